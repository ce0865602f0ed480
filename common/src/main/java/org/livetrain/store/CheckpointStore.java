package org.livetrain.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Manifest;
import org.livetrain.image.InputContract;
import org.livetrain.io.Storage;
import org.livetrain.model.Network;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A checkpoint directory on shared storage, laid out as the contract between training and serving.
 * Paths inside pointers are relative to {@code DIR}.
 * <pre>
 * DIR/best.json                             {@link Pointer} to the best checkpoint of all runs: what serving answers with
 * DIR/latest.json                           {@link Pointer} to the checkpoint published last, by any run
 * DIR/lock.json                             {@link RunLock}: the training process writing here (absent when none)
 * DIR/runs/RUN/run.json                     {@link RunInfo}: number, settings, state, start and end, test accuracy
 * DIR/runs/RUN/checkpoints/step-N/model.zip network + updater state (DL4J ModelSerializer)
 * DIR/runs/RUN/checkpoints/step-N/meta.json {@link CheckpointMeta}
 * DIR/runs/RUN/best.json, latest.json       the run's own best and newest checkpoint (retries and --resume start from latest)
 * DIR/runs/RUN/history.jsonl                one line per evaluation of the run
 * DIR/runs/RUN/progress.json                the run's position between evaluations
 * DIR/runs/RUN/manifest.json                {@link Manifest}: a folder's or table's examples when the run started (--resume keeps them)
 * DIR/datasets/RUN/                         the rows a Spark ML fit trains run RUN on, as Parquet (LiveTrainClassifier)
 * DIR/attic/TIME/                           runs and pointers that --fresh moved aside
 * DIR/scorer-query/, DIR/serving-stats.jsonl  the Kafka scorer's offsets and figures
 * </pre>
 * A checkpoint is written under a temporary name, read back and verified, then renamed into place, and
 * only then do the pointers move (each replaced atomically). Best pointers move only to a strictly better
 * dev accuracy. A reader therefore never sees a pointer to a missing or partial model, and {@link #load}
 * refuses a model whose checksum does not match.
 *
 * <p>Directories written before runs existed ({@code DIR/checkpoints/step-N}, {@code DIR/history.jsonl}) are
 * read as one run without an id, in place; the next training run moves them into a run of their own
 * ({@link #migrate}).
 */
public final class CheckpointStore {
    public static final int DEFAULT_KEEP = 3;
    static final ObjectMapper JSON = new ObjectMapper();
    /** What {@code --run-name} accepts: a folder name on every file system. */
    public static final Pattern RUN_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    /** Where a pointer may point: a checkpoint of a run of this directory, or of the layout before runs. */
    private static final Pattern CHECKPOINT_PATH = Pattern.compile("(runs/" + RUN_NAME.pattern() + "/)?checkpoints/step-[0-9]{1,19}");
    private static final DateTimeFormatter RUN_ID = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

    private final String location;
    private final Configuration conf;
    private final FileSystem fs;
    private final Path root;

    private CheckpointStore(String location, Configuration conf, FileSystem fs, Path root) {
        this.location = location;
        this.conf = conf;
        this.fs = fs;
        this.root = root;
    }

    /** For readers: nothing is created, the directory may not exist yet. */
    public static CheckpointStore open(String location, Configuration conf) {
        Path root = Storage.path(location);
        try {
            return new CheckpointStore(location, conf, Storage.fs(root, conf), root);
        } catch (IOException e) {
            throw new LiveTrainException(location + ": cannot reach file system (" + e.getMessage() + ")", e);
        }
    }

    /** For the training job: creates the directory and proves it is writable. */
    public static CheckpointStore create(String location, Configuration conf) {
        CheckpointStore s = open(location, conf);
        try {
            s.fs.mkdirs(s.root);
            Path probe = new Path(s.root, ".write-probe-" + UUID.randomUUID());
            Storage.write(s.fs, probe, new byte[]{1}, false);
            s.fs.delete(probe, false);
        } catch (IOException e) {
            throw new LiveTrainException(location + ": not writable (" + e.getMessage() + ")", e);
        }
        return s;
    }

    public String location() {
        return location;
    }

    /** This directory as a value that travels (to executors, to a prompt in the same process). */
    public CheckpointLocation asLocation() {
        return new CheckpointLocation(location, conf);
    }

    public Path root() {
        return root;
    }

    FileSystem fs() {
        return fs;
    }

    Configuration conf() {
        return conf;
    }

    Path bestFile() {
        return new Path(root, "best.json");
    }

    Path latestFile() {
        return new Path(root, "latest.json");
    }

    Path lockFile() {
        return new Path(root, "lock.json");
    }

    private Path runsDir() {
        return new Path(root, "runs");
    }

    /** The best checkpoint of all runs: the one serving answers with. */
    public Optional<Pointer> best() {
        return pointer(bestFile());
    }

    /** The checkpoint published last, by any run. */
    public Optional<Pointer> latest() {
        return pointer(latestFile());
    }

    // ---- runs

    /** Every run of the directory, in the order they were started; the earlier layout's run first. */
    public List<RunStore> runs() {
        List<RunStore> out = new ArrayList<>();
        try {
            if (hasEarlierLayout()) out.add(new RunStore(this, null, "", DEFAULT_KEEP));
            if (!fs.exists(runsDir())) return out;
            Map<RunStore, Integer> numbers = new LinkedHashMap<>(); // each run.json read once
            for (FileStatus st : fs.listStatus(runsDir())) {
                if (st.isDirectory() && RUN_NAME.matcher(st.getPath().getName()).matches()) {
                    RunStore r = run(st.getPath().getName());
                    r.info().ifPresent(i -> numbers.put(r, i.number()));
                }
            }
            numbers.keySet().stream().sorted(Comparator.comparingInt((RunStore r) -> numbers.get(r)).thenComparing(RunStore::id)).forEach(out::add);
        } catch (IOException e) {
            throw Storage.problem(location + ": cannot list runs", e);
        }
        return out;
    }

    /** A run by its id, for reading (and for the executors of its training job). */
    public RunStore run(String id) {
        return run(id, DEFAULT_KEEP);
    }

    /** A run by its id, writing with {@code keep} checkpoints besides its best and latest. */
    public RunStore run(String id, int keep) {
        if (keep < 1) throw new LiveTrainException("keep " + keep + ": must keep at least one checkpoint besides the best");
        return new RunStore(this, id, "runs/" + id + "/", keep);
    }

    /** The run with the highest number, if any. */
    public Optional<RunStore> newestRun() {
        List<RunStore> all = runs();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /** A run's id by its start time, {@code 20261128-035711} (UTC), as runs without a name get. */
    public static String timeId(Instant start) {
        return RUN_ID.format(start);
    }

    /**
     * Starts a run: the next number, the given name or a time-based id ({@code 20261128-035711}), its folder
     * and {@code run.json} in state running. The caller holds the directory's {@link RunLock}.
     */
    public RunStore newRun(String name, Map<String, Object> settings, InputContract input, int keep, RunLock lock) {
        List<RunStore> all = runs();
        int number = all.stream().mapToInt(r -> r.info().map(RunInfo::number).orElse(0)).max().orElse(0) + 1;
        String id = name;
        try {
            if (name != null) {
                if (!RUN_NAME.matcher(name).matches()) throw new IllegalArgumentException("not a run name: " + name);
                if (fs.exists(new Path(runsDir(), name))) throw new LiveTrainException(location + ": already has a run named " + name);
            } else {
                String base = timeId(Instant.now());
                id = base;
                for (int i = 2; fs.exists(new Path(runsDir(), id)); i++) id = base + "-" + i;
            }
            RunStore run = run(id, keep);
            fs.mkdirs(run.checkpoints());
            RunLock.Holder me = RunLock.current(id);
            run.writeInfo(RunInfo.created(id, number, settings, input).running(Instant.now().toString(), me.host(), me.pid()));
            if (lock != null) lock.forRun(id);
            return run;
        } catch (IOException e) {
            throw Storage.problem(location + ": cannot create run " + id, e);
        }
    }

    /** Marks a run as running in this process again (a resumption), under the directory's lock. */
    public RunStore resumeRun(RunStore run, Map<String, Object> settings, int keep, RunLock lock) {
        RunStore writer = run(run.id(), keep);
        RunLock.Holder me = RunLock.current(run.id());
        RunInfo info = run.info().orElseThrow(() -> new LiveTrainException(run.base() + "/run.json: missing"));
        writer.writeInfo(info.withSettings(settings).running(Instant.now().toString(), me.host(), me.pid()));
        writer.clearTemporary();
        if (lock != null) lock.forRun(run.id());
        return writer;
    }

    /**
     * A run's state as a reader should show it: a run recorded as running whose process no longer holds the
     * lock (killed, or its machine lost) is interrupted.
     */
    public String state(RunInfo info) {
        if (!RunInfo.RUNNING.equals(info.state())) return info.state();
        return RunLock.live(this, info.id()) ? RunInfo.RUNNING : RunInfo.INTERRUPTED;
    }

    /**
     * The present by the storage's own clock: the modification time of a file written now, so that times
     * written by other hosts compare without their clocks mattering. The local clock when nothing can be written.
     */
    Instant now() {
        Path probe = new Path(root, ".clock-probe-" + UUID.randomUUID());
        try {
            Storage.write(fs, probe, new byte[]{1}, false);
            return Instant.ofEpochMilli(fs.getFileStatus(probe).getModificationTime());
        } catch (IOException e) {
            return Instant.now();
        } finally {
            try {
                fs.delete(probe, false);
            } catch (IOException ignored) {
                // a probe left behind is harmless
            }
        }
    }

    // ---- the earlier layout, and starting over

    /** What a directory written before runs existed holds at its top. */
    private static final List<String> EARLIER_FILES = List.of("checkpoints", "history.jsonl", "progress.json");

    /** A history, or a checkpoint, at the top of the directory (the earlier trainer also made an empty checkpoints/). */
    private boolean hasEarlierLayout() throws IOException {
        if (fs.exists(new Path(root, "history.jsonl"))) return true;
        Path checkpoints = new Path(root, "checkpoints");
        return fs.exists(checkpoints) && Arrays.stream(fs.listStatus(checkpoints)).anyMatch(st -> st.getPath().getName().startsWith("step-"));
    }

    /** What can be said of the run of the earlier layout: its settings from its newest evaluation. */
    Optional<RunInfo> earlierRunInfo(RunStore run) {
        List<HistoryEntry> h = run.history();
        if (h.isEmpty()) return Optional.empty();
        CheckpointMeta first = h.get(0).meta(), last = h.get(h.size() - 1).meta();
        CheckpointMeta.Origin by = last.origin();
        Map<String, Object> settings = new LinkedHashMap<>();
        if (by.trainer() != null) settings.put("trainer", by.trainer());
        if (by.data() != null) settings.put("data", by.data());
        if (by.model() != null) settings.put("model", by.model());
        settings.put("workers", by.workers());
        String created = first.timing().created();
        String started = Instant.parse(created == null ? Instant.EPOCH.toString() : created)
                .minusMillis((long) (first.elapsedSeconds() * 1000)).toString();
        return Optional.of(RunInfo.earlier(null, 0, settings, started, last.elapsedSeconds(), null));
    }

    /**
     * Moves the run of a directory written before runs existed into {@code runs/RUN/} (RUN from the time of
     * its first evaluation): the files are copied into a temporary folder that is renamed into place, then
     * the pointers that still name the earlier layout are switched, and only then are the originals deleted,
     * so that a reader polling meanwhile never meets a missing checkpoint, and a move interrupted at any point
     * is finished by the next one. The caller holds the lock.
     */
    public Optional<String> migrate() {
        try {
            if (!hasEarlierLayout()) return Optional.empty();
            RunInfo was = new RunStore(this, null, "", DEFAULT_KEEP).info().orElse(RunInfo.earlier(null, 0, Map.of(), Instant.now().toString(), null, null));
            String id = "earlier-" + RUN_ID.format(Instant.parse(was.started()));
            String prefix = "runs/" + id + "/";
            Path target = new Path(runsDir(), id);
            if (!fs.exists(target)) {
                int number = runs().stream().filter(r -> r.id() != null).mapToInt(r -> r.info().map(RunInfo::number).orElse(0)).max().orElse(0) + 1;
                Path tmp = new Path(runsDir(), ".tmp-" + id + "-" + UUID.randomUUID());
                fs.mkdirs(tmp);
                for (String name : EARLIER_FILES) {
                    Path src = new Path(root, name);
                    if (fs.exists(src)) FileUtil.copy(fs, src, fs, new Path(tmp, name), false, true, conf);
                }
                RunInfo info = RunInfo.earlier(id, number, was.settings(), was.started(), was.wallSeconds(), InputContract.before(List.of()));
                Storage.writeAtomically(fs, new Path(tmp, "run.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(info), conf);
                Optional<Pointer> best = best(), latest = latest();
                if (latest.isPresent()) writePointer(new Path(tmp, "latest.json"), latest.get().at(prefix + latest.get().path(), id));
                if (best.isPresent()) writePointer(new Path(tmp, "best.json"), best.get().at(prefix + best.get().path(), id));
                if (!fs.rename(tmp, target)) throw new IOException("could not rename " + tmp + " to " + target);
            }
            for (Path file : List.of(latestFile(), bestFile())) {
                Optional<Pointer> p = pointer(file);
                if (p.isPresent() && p.get().path().startsWith("checkpoints/")) writePointer(file, p.get().at(prefix + p.get().path(), id));
            }
            for (String name : EARLIER_FILES) fs.delete(new Path(root, name), true);
            return Optional.of(id);
        } catch (IOException e) {
            throw Storage.problem(location + ": cannot move the earlier layout into a run", e);
        }
    }

    /**
     * {@code --fresh}: the directory starts over. Its pointers go first (a reader keeps the model it has, as
     * when no checkpoint exists), then its runs: into {@code attic/TIME/}, or deleted. Returns what was done,
     * in words, or empty when there was nothing. The caller holds the lock.
     */
    public Optional<String> startOver(boolean delete) {
        List<RunStore> all = runs();
        if (all.isEmpty()) return Optional.empty();
        try {
            if (delete) {
                for (Path p : List.of(bestFile(), latestFile(), runsDir(), new Path(root, "checkpoints"), new Path(root, "history.jsonl"),
                        new Path(root, "progress.json"))) fs.delete(p, true);
                return Optional.of("deleted " + count(all.size()));
            }
            Path attic = new Path(new Path(root, "attic"), RUN_ID.format(Instant.now()) + "-" + UUID.randomUUID().toString().substring(0, 4));
            fs.mkdirs(attic);
            for (String name : List.of("best.json", "latest.json", "runs", "checkpoints", "history.jsonl", "progress.json")) {
                Path src = new Path(root, name);
                if (fs.exists(src) && !fs.rename(src, new Path(attic, name))) throw new IOException("could not move " + src + " to " + attic);
            }
            return Optional.of("moved " + count(all.size()) + " aside to " + attic);
        } catch (IOException e) {
            throw Storage.problem(location + ": cannot start over", e);
        }
    }

    private static String count(int runs) {
        return runs + " earlier run" + (runs == 1 ? "" : "s");
    }

    // ---- checkpoints

    /** Reads the metadata of a checkpoint. */
    public CheckpointMeta meta(Pointer p) {
        return meta(p, metaNode(p));
    }

    private CheckpointMeta meta(Pointer p, JsonNode node) {
        try {
            return JSON.treeToValue(node, CheckpointMeta.class);
        } catch (IOException e) {
            throw new LiveTrainException(metaFile(p) + ": unreadable (" + Storage.firstLine(e) + ")", e);
        }
    }

    private Path metaFile(Pointer p) {
        return new Path(new Path(root, p.path()), "meta.json");
    }

    private JsonNode metaNode(Pointer p) {
        Path file = metaFile(p);
        try {
            return JSON.readTree(Storage.readAll(fs, file, Storage.MAX_JSON));
        } catch (FileNotFoundException e) {
            throw new LiveTrainException(file + ": missing (the pointer names a checkpoint that is not there)");
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + Storage.firstLine(e) + ")", e);
        }
    }

    /**
     * The input contract of a checkpoint, read in this one place: inside its model.zip; for a checkpoint written
     * before issue 26 without one there, its meta.json's {@code input}; before contracts existed, the digit
     * contract of then with meta.json's {@code classes}.
     */
    private static InputContract contract(byte[] zip, JsonNode meta, String where) {
        Optional<InputContract> inZip = InputContract.in(zip, where);
        if (inZip.isPresent()) return inZip.get();
        try {
            if (meta.hasNonNull("input")) return JSON.treeToValue(meta.get("input"), InputContract.class);
            return InputContract.before(meta.hasNonNull("classes") ? JSON.convertValue(meta.get("classes"), new TypeReference<List<String>>() { }) : null);
        } catch (IOException | IllegalArgumentException e) {
            throw new LiveTrainException(where + ": not a valid input contract in meta.json (" + Storage.firstLine(e) + ")");
        }
    }

    /**
     * Loads a checkpoint after checking its model's sha256 against the pointer and its metadata, and that its
     * input contract is one this LiveTrain understands.
     */
    public Checkpoint load(Pointer p, boolean withUpdater) {
        JsonNode metaNode = metaNode(p);
        StoredModel m = stored(p, metaNode);
        return new Checkpoint(m.network(withUpdater), meta(p, metaNode), p, m.input());
    }

    /** A checkpoint's model as verified bytes, not yet loaded: what a scoring job sends its executors and a Spark ML model saves. */
    public StoredModel stored(Pointer p) {
        return stored(p, metaNode(p));
    }

    private StoredModel stored(Pointer p, JsonNode metaNode) {
        CheckpointMeta meta = meta(p, metaNode);
        Path file = new Path(new Path(root, p.path()), "model.zip");
        byte[] bytes = StoredModel.verified(StoredModel.bytes(fs, file, Storage.MAX_MODEL, "the pointer names a checkpoint that is not there"),
                p, meta.sha256(), file.toString());
        try {
            return new StoredModel(bytes, p, contract(bytes, metaNode, file.toString()).check(file.toString()), file.toString());
        } catch (CorruptCheckpointException e) {
            throw e;
        } catch (LiveTrainException e) {
            throw new CorruptCheckpointException(e.getMessage(), e);
        }
    }

    Optional<Pointer> pointer(Path file) {
        byte[] bytes;
        try {
            bytes = Storage.readAll(fs, file, Storage.MAX_JSON);
        } catch (FileNotFoundException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw Storage.problem(file + ": unreadable", e);
        }
        try {
            Pointer p = JSON.readValue(bytes, Pointer.class);
            if (p.path() == null || p.sha256() == null) throw new LiveTrainException(file + ": not a checkpoint pointer (no path or sha256)");
            if (!CHECKPOINT_PATH.matcher(p.path()).matches()) {
                String shown = p.path().length() > 200 ? p.path().substring(0, 200) + "..." : p.path();
                throw new LiveTrainException(file + ": not a checkpoint pointer (its path " + shown + " is not runs/RUN/checkpoints/step-N inside the directory)");
            }
            return Optional.of(p);
        } catch (IOException e) {
            throw new LiveTrainException(file + ": not a valid checkpoint pointer (" + Storage.firstLine(e) + ")", e);
        }
    }

    void writePointer(Path file, Pointer p) throws IOException {
        Storage.writeAtomically(fs, file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(p), conf);
    }

    // ---- the Kafka scorer's figures

    /** What the Kafka scorers reading this directory recorded, one line per interval, oldest first. */
    public List<JsonNode> servingStats() {
        return readLines(servingStatsFile());
    }

    /** Appends one interval of a Kafka scorer's figures ({@code serving-stats.jsonl}). */
    public void appendServingStats(Map<String, Object> interval) {
        try {
            appendLine(servingStatsFile(), JSON.valueToTree(interval));
        } catch (IOException e) {
            throw Storage.problem(servingStatsFile() + ": cannot append", e);
        }
    }

    Path servingStatsFile() {
        return new Path(root, "serving-stats.jsonl");
    }

    // ---- JSON lines

    List<JsonNode> readLines(Path file) {
        List<JsonNode> out = new ArrayList<>();
        String text;
        try {
            text = new String(Storage.readAll(fs, file, Storage.MAX_JSON_LINES), StandardCharsets.UTF_8);
        } catch (FileNotFoundException e) {
            return out;
        } catch (IOException e) {
            throw Storage.problem(file + ": unreadable", e);
        }
        for (String line : text.split("\n")) {
            if (line.isBlank()) continue;
            try {
                out.add(JSON.readTree(line));
            } catch (JsonProcessingException e) {
                throw new LiveTrainException(file + ": bad line (" + Storage.firstLine(e) + ")", e);
            }
        }
        return out;
    }

    /** One JSON line more, by rewriting the file atomically (object stores cannot append). */
    void appendLine(Path file, JsonNode line) throws IOException {
        byte[] old;
        try {
            old = Storage.readAll(fs, file, Storage.MAX_JSON_LINES);
        } catch (FileNotFoundException e) {
            old = new byte[0];
        }
        byte[] add = (JSON.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[old.length + add.length];
        System.arraycopy(old, 0, all, 0, old.length);
        System.arraycopy(add, 0, all, old.length, add.length);
        Storage.writeAtomically(fs, file, all, conf);
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
