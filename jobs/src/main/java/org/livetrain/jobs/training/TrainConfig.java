package org.livetrain.jobs.training;

import org.livetrain.LiveTrainException;
import org.livetrain.data.ParquetPool;
import org.livetrain.data.Split;
import org.livetrain.image.Profile;
import org.livetrain.model.ModelSpec;
import org.livetrain.ps.Compression;

import java.io.Serializable;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Everything a training run is asked to do, as given on the command line (after defaults), in groups: the
 * data, the network, the schedule, the trainer (with the byteps trainer's own settings and the averaging
 * trainer's frequency), where checkpoints go, and Spark's own settings.
 */
public record TrainConfig(Data data, Model model, Schedule schedule, TrainerKind trainer, BytePS byteps, int averagingFrequency, Output output,
                          Map<String, String> conf) implements Serializable {

    /**
     * {@code --data}, how its images become inputs ({@code --input-profile}, {@code --channels}: 0 for the data's own), and the
     * fraction of its examples that may be unusable and left out ({@code --bad-data-limit}) before the run refuses the data.
     */
    public record Data(String spec, String inputProfile, int channels, double badDataLimit, ParquetPool.Columns columns) implements Serializable {
        public static final double DEFAULT_BAD_DATA_LIMIT = 0.01;

        /** Data with the default table columns. */
        public Data(String spec, String inputProfile, int channels, double badDataLimit) {
            this(spec, inputProfile, channels, badDataLimit, ParquetPool.Columns.DEFAULT);
        }

        /** {@code --input-profile} as a profile, or null for the data set's own choice. */
        public Profile profile() {
            return inputProfile == null || inputProfile.isBlank() ? null : Profile.parse(inputProfile);
        }
    }

    /** {@code --model}, or {@code --model-config} (a file), or {@code --init-from} (a saved model) with {@code --freeze}. */
    public record Model(String name, String configFile, String initFrom, int freeze) implements Serializable {
    }

    /** How much and how fast: workers, epochs, batch per worker, Adam's learning rate, the seed of everything random. */
    public record Schedule(int workers, int epochs, int batch, double learningRate, long seed) implements Serializable {
    }

    /** Where checkpoints go, and how many besides the best each run keeps. */
    public record Output(String checkpointDir, int keep) implements Serializable {
    }

    public int workers() {
        return schedule.workers();
    }

    public int epochs() {
        return schedule.epochs();
    }

    public int batch() {
        return schedule.batch();
    }

    public double learningRate() {
        return schedule.learningRate();
    }

    public long seed() {
        return schedule.seed();
    }

    public String checkpointDir() {
        return output.checkpointDir();
    }

    public int keep() {
        return output.keep();
    }

    /** Steps in one epoch: each worker's shard of the training split in mini-batches of {@code --batch}. */
    public int stepsPerEpoch(Split split) {
        int shard = split.train().length / workers();
        return (shard + batch() - 1) / batch();
    }

    /** Settings that decide what a run computes: a resumed run keeps them (only {@code epochs} may grow). */
    static final List<String> DEFINING = List.of("data", "input-profile", "channels", "image-column", "label-column", "model", "model-config", "init-from", "freeze", "trainer", "workers", "batch", "learning-rate", "seed", "compress",
            "async", "augment", "averaging-frequency");

    /**
     * The byteps trainer's own settings: evaluate every {@code evalEvery} steps; {@code servers} dedicated
     * summation servers (0: one in each worker task); gradients in chunks of {@code partitionBytes};
     * {@code compress} on the wire; {@code async}hronous mode; {@code augment}ed training images.
     */
    public record BytePS(int evalEvery, int servers, int partitionBytes, Compression compress, boolean async, boolean augment) implements Serializable {
        /** Refuses values out of range, and settings asked of a trainer that does not read them. */
        public void validate(TrainerKind trainer) {
            if (evalEvery < 1) throw new LiveTrainException("--eval-every " + evalEvery + ": must be at least 1 step");
            if (servers < 0) throw new LiveTrainException("--servers " + servers + ": must be 0 (colocated with the workers) or more");
            if (partitionBytes < 4 || partitionBytes > (64 << 20)) throw new LiveTrainException("--partition-bytes " + partitionBytes + ": must be between 4 and 67108864");
            if (trainer == TrainerKind.BYTEPS) return;
            if (async) throw new LiveTrainException("--async: only the byteps trainer runs asynchronously");
            if (augment) throw new LiveTrainException("--augment: only the byteps trainer augments");
        }

        /** Tasks of the barrier stage: the workers and the dedicated servers. */
        public int tasks(int workers) {
            return workers + servers;
        }
    }

    /** The run's settings as {@code run.json} keeps them, keyed by option name (never {@code --conf}: it may hold credentials). */
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("trainer", trainer.id());
        m.put("data", data.spec());
        if (data.inputProfile() != null) m.put("input-profile", data.inputProfile());
        if (data.channels() != 0) m.put("channels", data.channels());
        m.put("bad-data-limit", data.badDataLimit());
        if (data.columns().image() != null) m.put("image-column", data.columns().image());
        if (!data.columns().label().equals(ParquetPool.Columns.DEFAULT.label())) m.put("label-column", data.columns().label());
        // what the runs table shows
        m.put("model", model.configFile() != null ? ModelSpec.configName(model.configFile())
                : model.initFrom() != null ? ModelSpec.initName(model.initFrom()) : model.name());
        if (model.configFile() != null) m.put("model-config", model.configFile());
        if (model.initFrom() != null) m.put("init-from", model.initFrom());
        if (model.freeze() != 0) m.put("freeze", model.freeze());
        m.put("workers", workers());
        m.put("epochs", epochs());
        m.put("batch", batch());
        m.put("learning-rate", learningRate());
        m.put("seed", seed());
        m.put("compress", byteps.compress().name().toLowerCase(Locale.ROOT));
        m.put("async", byteps.async());
        m.put("augment", byteps.augment());
        m.put("averaging-frequency", averagingFrequency);
        m.put("eval-every", byteps.evalEvery());
        m.put("servers", byteps.servers());
        m.put("partition-bytes", byteps.partitionBytes());
        m.put("keep", keep());
        return m;
    }

    /**
     * The configuration of a resumed run: its stored settings, except the options given on this command
     * line ({@code explicit}) that may change. A defining setting given with another value is refused.
     */
    public TrainConfig resumed(String run, Map<String, Object> stored, Set<String> explicit) {
        Map<String, Object> given = settings(), merged = new LinkedHashMap<>(given);
        for (var e : given.entrySet()) {
            Object was = stored.get(e.getKey());
            if (was == null) continue; // the earlier layout recorded only some settings
            boolean differs = e.getValue() instanceof Number n ? num(stored, e.getKey()).doubleValue() != n.doubleValue()
                    : !String.valueOf(was).equals(String.valueOf(e.getValue()));
            if (explicit.contains(e.getKey())) {
                if (differs && DEFINING.contains(e.getKey())) {
                    throw new LiveTrainException("--" + e.getKey() + " " + e.getValue() + ": run " + run + " was trained with --" + e.getKey() + " " + was
                            + "; a resumed run keeps the settings it started with (--epochs, --eval-every, --keep, --servers, --partition-bytes and --bad-data-limit may change)");
                }
            } else {
                merged.put(e.getKey(), was);
            }
        }
        return fromSettings(merged);
    }

    private TrainConfig fromSettings(Map<String, Object> s) {
        Data d = new Data(str(s, "data"), optional(s, "input-profile"), s.get("channels") == null ? 0 : num(s, "channels").intValue(),
                s.get("bad-data-limit") == null ? Data.DEFAULT_BAD_DATA_LIMIT : num(s, "bad-data-limit").doubleValue(),
                new ParquetPool.Columns(optional(s, "image-column"), s.get("label-column") == null ? ParquetPool.Columns.DEFAULT.label() : str(s, "label-column")));
        Model m = new Model(str(s, "model"), optional(s, "model-config"), optional(s, "init-from"), s.get("freeze") == null ? 0 : num(s, "freeze").intValue());
        Schedule sc = new Schedule(num(s, "workers").intValue(), num(s, "epochs").intValue(), num(s, "batch").intValue(),
                num(s, "learning-rate").doubleValue(), num(s, "seed").longValue());
        BytePS b = new BytePS(num(s, "eval-every").intValue(), num(s, "servers").intValue(), num(s, "partition-bytes").intValue(),
                compression(str(s, "compress")), Boolean.parseBoolean(str(s, "async")), Boolean.parseBoolean(str(s, "augment")));
        return new TrainConfig(d, m, sc, TrainerKind.parse(str(s, "trainer")), b, num(s, "averaging-frequency").intValue(),
                new Output(checkpointDir(), num(s, "keep").intValue()), conf);
    }

    private static String optional(Map<String, Object> s, String key) {
        return s.get(key) == null ? null : str(s, key);
    }

    private static Compression compression(String stored) {
        try {
            return Compression.valueOf(stored.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new LiveTrainException("run.json: setting compress is " + stored + " (none or fp16 expected)");
        }
    }

    private static String str(Map<String, Object> s, String key) {
        return String.valueOf(s.get(key));
    }

    private static Number num(Map<String, Object> s, String key) {
        Object v = s.get(key);
        if (v instanceof Number n) return n;
        try {
            return new BigDecimal(String.valueOf(v));
        } catch (NumberFormatException e) {
            throw new LiveTrainException("run.json: setting " + key + " is not a number (" + v + ")");
        }
    }
}
