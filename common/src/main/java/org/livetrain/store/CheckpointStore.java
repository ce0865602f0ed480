package org.livetrain.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.livetrain.model.NativeKernels;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checkpoints on shared storage, laid out as the contract between training and serving:
 * <pre>
 * DIR/checkpoints/step-N/model.zip   network + updater state
 * DIR/checkpoints/step-N/meta.json   {@link CheckpointMeta}
 * DIR/best.json                       {@link Pointer} to the best checkpoint (moves only to a strictly better dev accuracy)
 * DIR/latest.json                     {@link Pointer} to the newest complete checkpoint
 * DIR/history.jsonl                   one line per evaluation
 * </pre>
 * A checkpoint is written under a temporary name, read back and verified, then renamed into place, and
 * only then do the pointers move (each replaced atomically). A reader therefore never sees a pointer to
 * a missing or partial model, and {@link #load} refuses a model whose checksum does not match.
 */
public final class CheckpointStore {
    /**
     * Fault-injection hook for tests: the JVM halts (as if killed) once the checkpoint of this step is
     * written and renamed into place, before any pointer names it.
     */
    public static final String HALT_BEFORE_POINTER = "livetrain.test.haltBeforePointer";

    public static final int DEFAULT_KEEP = 3;
    static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    private final String location;
    private final Configuration conf;
    private final FileSystem fs;
    private final Path root;
    private final int keep;

    private CheckpointStore(String location, Configuration conf, FileSystem fs, Path root, int keep) {
        this.location = location;
        this.conf = conf;
        this.fs = fs;
        this.root = root;
        this.keep = keep;
    }

    /** For readers: nothing is created, the directory may not exist yet. */
    public static CheckpointStore open(String location, Configuration conf) {
        Path root = Storage.path(location);
        try {
            return new CheckpointStore(location, conf, Storage.fs(root, conf), root, DEFAULT_KEEP);
        } catch (IOException e) {
            throw new LiveTrainException("--checkpoint-dir " + location + ": cannot reach file system (" + e.getMessage() + ")", e);
        }
    }

    /**
     * For the one writer, the training job: creates the directory, proves it is writable, and clears
     * temporary files that an interrupted writer left behind.
     */
    public static CheckpointStore create(String location, Configuration conf, int keep) {
        if (keep < 1) throw new LiveTrainException("--keep " + keep + ": must keep at least one checkpoint besides the best");
        CheckpointStore s = open(location, conf);
        try {
            s.fs.mkdirs(s.checkpoints());
            Path probe = new Path(s.root, ".write-probe-" + UUID.randomUUID());
            try (OutputStream out = s.fs.create(probe, false)) {
                out.write(1);
            }
            s.fs.delete(probe, false);
            for (FileStatus st : s.fs.listStatus(s.checkpoints())) {
                if (st.getPath().getName().startsWith(".tmp-")) s.fs.delete(st.getPath(), true);
            }
        } catch (IOException e) {
            throw new LiveTrainException("--checkpoint-dir " + location + ": not writable (" + e.getMessage() + ")", e);
        }
        return new CheckpointStore(location, conf, s.fs, s.root, keep);
    }

    public String location() {
        return location;
    }

    public Path root() {
        return root;
    }

    Path checkpoints() {
        return new Path(root, "checkpoints");
    }

    Path bestFile() {
        return new Path(root, "best.json");
    }

    Path latestFile() {
        return new Path(root, "latest.json");
    }

    Path historyFile() {
        return new Path(root, "history.jsonl");
    }

    /** What one publication did. */
    public record Published(CheckpointMeta meta, Pointer pointer, boolean newBest, Pointer best) {
    }

    /**
     * Writes a checkpoint and publishes it as latest, and as best when its dev accuracy is strictly
     * better than the current best's. Appends a line to the history; applies retention.
     */
    public Published publish(MultiLayerNetwork net, CheckpointMeta meta) {
        try {
            ByteArrayOutputStream zip = new ByteArrayOutputStream(8 << 20);
            ModelSerializer.writeModel(net, zip, true);
            byte[] bytes = zip.toByteArray();
            CheckpointMeta full = meta.withFile(Instant.now().toString(), sha256(bytes), bytes.length);
            String rel = "checkpoints/step-" + meta.step();
            Path dir = new Path(root, rel);
            Path tmp = new Path(checkpoints(), ".tmp-step-" + meta.step() + "-" + UUID.randomUUID());
            Optional<Pointer> best = best();
            Optional<Pointer> latest = latest();
            fs.mkdirs(tmp);
            try {
                try (OutputStream out = fs.create(new Path(tmp, "model.zip"), false)) {
                    out.write(bytes);
                }
                String back = sha256(Storage.readAll(fs, new Path(tmp, "model.zip")));
                if (!back.equals(full.sha256())) {
                    throw new IOException("model.zip read back with sha256 " + back + ", written " + full.sha256());
                }
                try (OutputStream out = fs.create(new Path(tmp, "meta.json"), false)) {
                    out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(full));
                }
                if (fs.exists(dir)) {
                    // left by a run that stopped before publishing it: never referenced, safe to replace
                    if (best.map(p -> p.path().equals(rel)).orElse(false) || latest.map(p -> p.path().equals(rel)).orElse(false)) {
                        throw new IOException(rel + " is already published");
                    }
                    fs.delete(dir, true);
                }
                if (!fs.rename(tmp, dir)) throw new IOException("could not rename " + tmp + " to " + dir);
            } finally {
                if (fs.exists(tmp)) fs.delete(tmp, true);
            }
            if (Long.getLong(HALT_BEFORE_POINTER, -1L) == meta.step()) Runtime.getRuntime().halt(137);
            Pointer pointer = Pointer.of(full, rel);
            Storage.writeAtomically(fs, latestFile(), pointerJson(pointer), conf);
            boolean newBest = best.isEmpty() || full.devAccuracy() > best.get().devAccuracy();
            if (newBest) Storage.writeAtomically(fs, bestFile(), pointerJson(pointer), conf);
            Pointer bestNow = newBest ? pointer : best.get();
            appendHistory(full, newBest);
            retain(bestNow, pointer);
            return new Published(full, pointer, newBest, bestNow);
        } catch (IOException e) {
            throw new LiveTrainException("--checkpoint-dir " + location + ": cannot write checkpoint of step " + meta.step() + " (" + e.getMessage() + ")", e);
        }
    }

    public Optional<Pointer> best() {
        return pointer(bestFile());
    }

    public Optional<Pointer> latest() {
        return pointer(latestFile());
    }

    private Optional<Pointer> pointer(Path file) {
        byte[] bytes;
        try {
            bytes = Storage.readAll(fs, file);
        } catch (FileNotFoundException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + e.getMessage() + ")", e);
        }
        try {
            Pointer p = JSON.readValue(bytes, Pointer.class);
            if (p.path() == null || p.sha256() == null) throw new LiveTrainException(file + ": not a checkpoint pointer (no path or sha256)");
            return Optional.of(p);
        } catch (IOException e) {
            throw new LiveTrainException(file + ": not a valid checkpoint pointer (" + firstLine(e) + ")", e);
        }
    }

    /** Reads the metadata of a checkpoint. */
    public CheckpointMeta meta(Pointer p) {
        Path file = new Path(new Path(root, p.path()), "meta.json");
        try {
            return JSON.readValue(Storage.readAll(fs, file), CheckpointMeta.class);
        } catch (FileNotFoundException e) {
            throw new LiveTrainException(file + ": missing (the pointer names a checkpoint that is not there)");
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + firstLine(e) + ")", e);
        }
    }

    /** Loads a checkpoint after checking its model's sha256 against the pointer and its metadata. */
    public Checkpoint load(Pointer p, boolean withUpdater) {
        CheckpointMeta meta = meta(p);
        Path file = new Path(new Path(root, p.path()), "model.zip");
        byte[] bytes;
        try {
            bytes = Storage.readAll(fs, file);
        } catch (FileNotFoundException e) {
            throw new LiveTrainException(file + ": missing (the pointer names a checkpoint that is not there)");
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + e.getMessage() + ")", e);
        }
        String actual = sha256(bytes);
        if (!actual.equals(p.sha256()) || !actual.equals(meta.sha256())) {
            throw new LiveTrainException(file + ": checksum mismatch (sha256 " + actual + ", expected " + p.sha256() + "); refusing it");
        }
        try {
            NativeKernels.enable();
            MultiLayerNetwork net = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes), withUpdater);
            return new Checkpoint(net, meta, p);
        } catch (IOException | RuntimeException e) {
            throw new LiveTrainException(file + ": not a loadable model (" + firstLine(e) + ")", e);
        }
    }

    /**
     * A running job's position between evaluations ({@code progress.json}, replaced every few seconds by
     * the training job): what progress bars and the prompt's {@code status} show. Nothing depends on it.
     */
    public void writeProgress(Map<String, Object> fields) {
        try {
            Storage.writeAtomically(fs, new Path(root, "progress.json"), JSON.writeValueAsBytes(fields), conf);
        } catch (IOException e) {
            throw new LiveTrainException(new Path(root, "progress.json") + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** The last position written by a training job, if any (an unreadable file counts as none). */
    public Optional<JsonNode> progress() {
        try {
            return Optional.of(JSON.readTree(Storage.readAll(fs, new Path(root, "progress.json"))));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The evaluations recorded so far, oldest first. */
    public List<JsonNode> history() {
        return readLines(historyFile());
    }

    /** What the Kafka scorers reading this directory recorded, one line per interval, oldest first. */
    public List<JsonNode> servingStats() {
        return readLines(servingStatsFile());
    }

    /** Appends one interval of a Kafka scorer's figures ({@code serving-stats.jsonl}). */
    public void appendServingStats(Map<String, Object> interval) {
        try {
            appendLine(servingStatsFile(), JSON.valueToTree(interval));
        } catch (IOException e) {
            throw new LiveTrainException(servingStatsFile() + ": cannot append (" + e.getMessage() + ")", e);
        }
    }

    Path servingStatsFile() {
        return new Path(root, "serving-stats.jsonl");
    }

    private List<JsonNode> readLines(Path file) {
        List<JsonNode> out = new ArrayList<>();
        String text;
        try {
            text = new String(Storage.readAll(fs, file), StandardCharsets.UTF_8);
        } catch (FileNotFoundException e) {
            return out;
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + e.getMessage() + ")", e);
        }
        for (String line : text.split("\n")) {
            if (line.isBlank()) continue;
            try {
                out.add(JSON.readTree(line));
            } catch (JsonProcessingException e) {
                throw new LiveTrainException(file + ": bad line (" + firstLine(e) + ")", e);
            }
        }
        return out;
    }

    /** One JSON line more, by rewriting the file atomically (object stores cannot append). */
    private void appendLine(Path file, JsonNode line) throws IOException {
        byte[] old;
        try {
            old = Storage.readAll(fs, file);
        } catch (FileNotFoundException e) {
            old = new byte[0];
        }
        byte[] add = (JSON.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[old.length + add.length];
        System.arraycopy(old, 0, all, 0, old.length);
        System.arraycopy(add, 0, all, old.length, add.length);
        Storage.writeAtomically(fs, file, all, conf);
    }

    /** Steps of the checkpoints present, in increasing order. */
    public List<Long> steps() throws IOException {
        TreeSet<Long> steps = new TreeSet<>();
        if (!fs.exists(checkpoints())) return new ArrayList<>();
        for (FileStatus st : fs.listStatus(checkpoints())) {
            Matcher m = STEP_DIR.matcher(st.getPath().getName());
            if (st.isDirectory() && m.matches()) steps.add(Long.parseLong(m.group(1)));
        }
        return new ArrayList<>(steps);
    }

    private void appendHistory(CheckpointMeta meta, boolean best) throws IOException {
        ObjectNode line = JSON.valueToTree(meta);
        line.remove("classes");
        line.put("best", best);
        appendLine(historyFile(), line);
    }

    /** Keeps the best checkpoint, the latest, and the newest {@code keep}; deletes the rest. */
    private void retain(Pointer best, Pointer latest) throws IOException {
        List<Long> steps = steps();
        int newest = 0;
        for (int i = steps.size() - 1; i >= 0; i--) {
            long s = steps.get(i);
            boolean kept = s == best.step() || s == latest.step() || newest < keep;
            newest++;
            if (!kept) fs.delete(new Path(checkpoints(), "step-" + s), true);
        }
    }

    private static byte[] pointerJson(Pointer p) throws JsonProcessingException {
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(p);
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String firstLine(Exception e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
