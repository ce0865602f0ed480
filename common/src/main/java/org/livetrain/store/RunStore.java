package org.livetrain.store;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Manifest;
import org.livetrain.image.InputContract;
import org.livetrain.io.Storage;
import org.livetrain.model.Network;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One training run inside a checkpoint directory ({@code DIR/runs/<run>/}, see {@link CheckpointStore} for
 * the layout): its {@code run.json}, checkpoints, pointers, history and position. The run of a directory
 * written before runs existed is read in place, from {@code DIR} itself, and has no id.
 */
public final class RunStore {
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");
    static final String MANIFEST = "manifest.json";

    private final CheckpointStore dir;
    private final String id;
    private final String relBase;
    private final int keep;

    /** @param relBase the run's folder relative to the directory, ending in a slash ({@code ""} for the earlier layout) */
    RunStore(CheckpointStore dir, String id, String relBase, int keep) {
        this.dir = dir;
        this.id = id;
        this.relBase = relBase;
        this.keep = keep;
    }

    /** The run's id; null for the run of a directory written before runs existed. */
    public String id() {
        return id;
    }

    /** The run as people read it: its id, or "(earlier layout)" for the run of a directory written before runs. */
    public String name() {
        return name(id);
    }

    static String name(String id) {
        return id == null ? "(earlier layout)" : id;
    }

    public CheckpointStore directory() {
        return dir;
    }

    /** Where the run's files are. */
    public Path base() {
        return relBase.isEmpty() ? dir.root() : new Path(dir.root(), relBase);
    }

    Path file(String name) {
        return new Path(base(), name);
    }

    Path checkpoints() {
        return file("checkpoints");
    }

    private FileSystem fs() {
        return dir.fs();
    }

    /** The run's {@code run.json}; for the earlier layout, what its newest checkpoint says of it. */
    public Optional<RunInfo> info() {
        if (id == null) return dir.earlierRunInfo(this);
        Path f = file("run.json");
        try {
            return Optional.of(CheckpointStore.JSON.readValue(Storage.readAll(fs(), f, Storage.MAX_JSON), RunInfo.class));
        } catch (FileNotFoundException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new LiveTrainException(f + ": not a valid run record (" + Storage.firstLine(e) + ")", e);
        }
    }

    /** The run as {@code runs} and {@code report} show it; empty for a folder without a run record. */
    public Optional<RunSummary> summary() {
        return info().map(i -> RunSummary.of(this, i, dir.state(i), dir.best().orElse(null)));
    }

    public void writeInfo(RunInfo info) {
        try {
            Storage.writeAtomically(fs(), file("run.json"), CheckpointStore.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(info), dir.conf());
        } catch (IOException e) {
            throw Storage.problem(file("run.json") + ": cannot write", e);
        }
    }

    /** What one publication did. {@code newBest}: the checkpoint became the directory's best, the one served. */
    public record Published(CheckpointMeta meta, Pointer pointer, boolean newBest, Pointer best, boolean newRunBest, Pointer runBest) {
    }

    /**
     * A checkpoint written in place but not yet published: no pointer names it, no reader sees it.
     * {@code attempt}: the training stage's attempt that wrote it (-1: a writer outside a staged job).
     */
    public record Written(CheckpointMeta meta, String path, int attempt) {
    }

    /**
     * Writes a checkpoint of this run and publishes it: as the run's latest and the directory's latest; as
     * the run's best and the directory's best when its dev accuracy is strictly better than theirs. Appends
     * a line to the run's history; applies the run's retention.
     */
    public Published publish(Network net, InputContract input, CheckpointMeta meta) {
        return point(write(net, input, meta, -1));
    }

    /**
     * The first half of {@link #publish}: the checkpoint's files, written, read back and verified; never a model
     * that is not finite. The model's input contract goes inside its model.zip ({@value InputContract#ZIP_ENTRY}).
     */
    public Written write(Network net, InputContract input, CheckpointMeta meta, int attempt) {
        String rel = relBase + "checkpoints/step-" + meta.step();
        if (net.params().isNaN().any() || net.params().isInfinite().any()) {
            throw new LiveTrainException(dir.location() + ": refusing to write checkpoint " + rel + ": its parameters are not finite (NaN or infinity)");
        }
        try {
            ByteArrayOutputStream zip = new ByteArrayOutputStream(8 << 20);
            net.write(zip, true);
            byte[] bytes = input.addTo(zip.toByteArray());
            CheckpointMeta full = meta.published(id, Instant.now().toString(), CheckpointStore.sha256(bytes), bytes.length);
            writeInPlace(rel, full, bytes, dir.best(), latest());
            return new Written(full, rel, attempt);
        } catch (IOException e) {
            throw Storage.problem(dir.location() + ": cannot write checkpoint " + rel, e);
        }
    }

    /**
     * The second half of {@link #publish}: the pointers, the history line, the retention. A checkpoint written
     * by an attempt that a later one has {@link #fence fenced} off is not published.
     */
    public Published point(Written w) {
        int writer = w.attempt() < 0 ? -1 : writer();
        if (writer > w.attempt()) {
            throw new IllegalStateException(base() + ": step " + w.meta().step() + " of attempt " + (w.attempt() + 1) + " not published: attempt "
                    + (writer + 1) + " writes this run now");
        }
        CheckpointMeta full = w.meta();
        Optional<Pointer> best = dir.best(), runBest = best();
        Pointer pointer = Pointer.of(full, w.path());
        boolean newRunBest = runBest.isEmpty() || full.devAccuracy() > runBest.get().devAccuracy();
        boolean newBest = best.isEmpty() || full.devAccuracy() > best.get().devAccuracy();
        try {
            dir.writePointer(file("latest.json"), pointer);
            if (newRunBest) dir.writePointer(file("best.json"), pointer);
            dir.writePointer(dir.latestFile(), pointer);
            if (newBest) dir.writePointer(dir.bestFile(), pointer);
            Pointer bestNow = newBest ? pointer : best.get(), runBestNow = newRunBest ? pointer : runBest.get();
            appendHistory(full, newBest, newRunBest);
            retain(runBestNow, pointer, bestNow, best.orElse(null));
            return new Published(full, pointer, newBest, bestNow, newRunBest, runBestNow);
        } catch (IOException e) {
            throw Storage.problem(dir.location() + ": cannot publish checkpoint " + w.path(), e);
        }
    }

    /** Writes the checkpoint under a temporary name, reads it back, verifies it and renames it into place. */
    private void writeInPlace(String rel, CheckpointMeta full, byte[] bytes, Optional<Pointer> best, Optional<Pointer> latest) throws IOException {
        Path target = new Path(dir.root(), rel);
        Path tmp = new Path(checkpoints(), ".tmp-step-" + full.step() + "-" + UUID.randomUUID());
        fs().mkdirs(tmp);
        try {
            Storage.write(fs(), new Path(tmp, "model.zip"), bytes, false);
            String back = CheckpointStore.sha256(Storage.readAll(fs(), new Path(tmp, "model.zip"), Storage.MAX_MODEL));
            if (!back.equals(full.sha256())) throw new IOException("model.zip read back with sha256 " + back + ", written " + full.sha256());
            Storage.write(fs(), new Path(tmp, "meta.json"), CheckpointStore.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(full), false);
            if (fs().exists(target)) {
                // left by an attempt that stopped before publishing it: never referenced, safe to replace
                for (Optional<Pointer> p : List.of(best, latest, best())) {
                    if (p.map(x -> x.path().equals(rel)).orElse(false)) throw new LiveTrainException(
                            dir.location() + ": cannot write checkpoint " + rel + ": it is already published");
                }
                fs().delete(target, true);
            }
            if (!fs().rename(tmp, target)) throw new IOException("could not rename " + tmp + " to " + target);
        } finally {
            if (fs().exists(tmp)) fs().delete(tmp, true);
        }
    }

    /** The run's newest checkpoint: where a retried attempt and {@code --resume} continue from. */
    public Optional<Pointer> latest() {
        return dir.pointer(file("latest.json"));
    }

    /** The run's own best checkpoint. */
    public Optional<Pointer> best() {
        return dir.pointer(file("best.json"));
    }

    /** The run's evaluations, oldest first. */
    public List<HistoryEntry> history() {
        return dir.readLines(file("history.jsonl")).stream().map(HistoryEntry::of).toList();
    }

    /**
     * Makes {@code attempt} of the run's training stage its only publisher ({@code writer.json}): the publisher
     * of an earlier attempt that is still draining stops before its next pointer.
     */
    public void fence(int attempt) {
        try {
            Storage.writeAtomically(fs(), file("writer.json"), CheckpointStore.JSON.writeValueAsBytes(Map.of("attempt", attempt)), dir.conf());
        } catch (IOException e) {
            throw Storage.problem(file("writer.json") + ": cannot write", e);
        }
    }

    /** The attempt fenced in, or -1. */
    private int writer() {
        try {
            return CheckpointStore.JSON.readTree(Storage.readAll(fs(), file("writer.json"), Storage.MAX_JSON)).path("attempt").asInt(-1);
        } catch (FileNotFoundException e) {
            return -1;
        } catch (IOException e) {
            throw Storage.problem(file("writer.json") + ": unreadable", e);
        }
    }

    /** Writes the run's frozen listing ({@code manifest.json}), once, when the run starts. */
    public void writeManifest(Manifest manifest) {
        try {
            Storage.writeAtomically(fs(), file(MANIFEST), manifest.json(), dir.conf());
        } catch (IOException e) {
            throw Storage.problem(file(MANIFEST) + ": cannot write", e);
        }
    }

    /** The run's frozen listing; empty for a run on data that cannot change in place, or one started before manifests. */
    public Optional<Manifest> manifest() {
        Path f = file(MANIFEST);
        try {
            return Optional.of(Manifest.parse(Storage.readAll(fs(), f, Manifest.MAX_BYTES), f.toString()));
        } catch (FileNotFoundException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw Storage.problem(f + ": cannot read", e);
        }
    }

    /** Replaces the run's {@link Position} ({@code progress.json}). */
    public void writeProgress(Position position) {
        try {
            Storage.writeAtomically(fs(), file("progress.json"), CheckpointStore.JSON.writeValueAsBytes(position), dir.conf());
        } catch (IOException e) {
            throw Storage.problem(file("progress.json") + ": cannot write", e);
        }
    }

    /** The last position written by the run's training job, if any (an unreadable file counts as none). */
    public Optional<Position> progress() {
        try {
            return Optional.of(CheckpointStore.JSON.readValue(Storage.readAll(fs(), file("progress.json"), Storage.MAX_JSON), Position.class));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The pointer to the run's checkpoint at {@code step}, from its metadata; empty when retention removed it (or it never was). */
    public Optional<Pointer> checkpoint(long step) {
        Pointer unread = new Pointer(step, 0, relBase + "checkpoints/step-" + step, null, 0, 0, null, id);
        try {
            if (!fs().exists(new Path(base(), "checkpoints/step-" + step + "/meta.json"))) return Optional.empty();
        } catch (IOException e) {
            throw Storage.problem(base() + ": cannot list step " + step, e);
        }
        return Optional.of(Pointer.of(dir.meta(unread), unread.path()));
    }

    /** Steps of the run's checkpoints present, in increasing order. */
    public List<Long> steps() throws IOException {
        TreeSet<Long> steps = new TreeSet<>();
        if (!fs().exists(checkpoints())) return new ArrayList<>();
        for (FileStatus st : fs().listStatus(checkpoints())) {
            Matcher m = STEP_DIR.matcher(st.getPath().getName());
            if (st.isDirectory() && m.matches()) steps.add(Long.parseLong(m.group(1)));
        }
        return new ArrayList<>(steps);
    }

    /** Removes what an interrupted writer of this run left under temporary names. */
    public void clearTemporary() {
        try {
            if (!fs().exists(checkpoints())) return;
            for (FileStatus st : fs().listStatus(checkpoints())) {
                if (st.getPath().getName().startsWith(".tmp-")) fs().delete(st.getPath(), true);
            }
        } catch (IOException e) {
            throw Storage.problem(checkpoints() + ": cannot clear temporary files", e);
        }
    }

    private void appendHistory(CheckpointMeta meta, boolean best, boolean runBest) throws IOException {
        dir.appendLine(file("history.jsonl"), new HistoryEntry(meta, best, runBest).toJson());
    }

    /**
     * Keeps the run's best, its latest, the directory's best if it is of this run, and the newest {@code keep};
     * deletes the rest, but never the
     * best that this publication replaced: a reader that read the old best.json a moment ago may still be
     * loading it (and one that finds it gone tries the new best).
     */
    private void retain(Pointer runBest, Pointer latest, Pointer best, Pointer replacedBest) throws IOException {
        List<Long> steps = steps();
        int newest = 0;
        for (int i = steps.size() - 1; i >= 0; i--) {
            long s = steps.get(i);
            String rel = relBase + "checkpoints/step-" + s;
            boolean kept = rel.equals(runBest.path()) || rel.equals(latest.path()) || rel.equals(best.path()) || newest < keep
                    || replacedBest != null && rel.equals(replacedBest.path());
            newest++;
            if (!kept) fs().delete(new Path(checkpoints(), "step-" + s), true);
        }
    }
}
