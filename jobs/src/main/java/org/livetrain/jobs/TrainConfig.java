package org.livetrain.jobs;

import org.livetrain.LiveTrainException;
import org.livetrain.model.ModelSpec;
import org.livetrain.ps.Compression;

import java.io.Serializable;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Everything a training run is asked to do, as given on the command line (after defaults). */
public record TrainConfig(
        String data,
        String inputProfile,
        int channels,
        int workers,
        int epochs,
        int batch,
        double learningRate,
        String model,
        String modelConfig,
        String initFrom,
        int freeze,
        String trainer,
        int averagingFrequency,
        BytePS byteps,
        String checkpointDir,
        int keep,
        long seed,
        Map<String, String> conf) implements Serializable {

    /** Settings that decide what a run computes: a resumed run keeps them (only {@code epochs} may grow). */
    static final List<String> DEFINING = List.of("data", "input-profile", "channels", "model", "model-config", "init-from", "freeze", "trainer", "workers", "batch", "learning-rate", "seed", "compress",
            "async", "augment", "averaging-frequency");

    /**
     * The byteps trainer's own settings: evaluate every {@code evalEvery} steps; {@code servers} dedicated
     * summation servers (0: one in each worker task); gradients in chunks of {@code partitionBytes};
     * {@code compress} on the wire; {@code async}hronous mode; {@code augment}ed training images.
     */
    public record BytePS(int evalEvery, int servers, int partitionBytes, Compression compress, boolean async, boolean augment) implements Serializable {
        /** Refuses values out of range, and settings asked of a trainer that does not read them. */
        void validate(String trainer) {
            if (evalEvery < 1) throw new LiveTrainException("--eval-every " + evalEvery + ": must be at least 1 step");
            if (servers < 0) throw new LiveTrainException("--servers " + servers + ": must be 0 (colocated with the workers) or more");
            if (partitionBytes < 4 || partitionBytes > (64 << 20)) throw new LiveTrainException("--partition-bytes " + partitionBytes + ": must be between 4 and 67108864");
            if (trainer.equals("byteps")) return;
            if (async) throw new LiveTrainException("--async: only the byteps trainer runs asynchronously");
            if (augment) throw new LiveTrainException("--augment: only the byteps trainer augments");
        }

        /** Tasks of the barrier stage: the workers and the dedicated servers. */
        int tasks(int workers) {
            return workers + servers;
        }
    }

    /** The run's settings as {@code run.json} keeps them, keyed by option name (never {@code --conf}: it may hold credentials). */
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("trainer", trainer);
        m.put("data", data);
        if (inputProfile != null) m.put("input-profile", inputProfile);
        if (channels != 0) m.put("channels", channels);
        // what the runs table shows
        m.put("model", modelConfig != null ? ModelSpec.configName(modelConfig) : initFrom != null ? ModelSpec.initName(initFrom) : model);
        if (modelConfig != null) m.put("model-config", modelConfig);
        if (initFrom != null) m.put("init-from", initFrom);
        if (freeze != 0) m.put("freeze", freeze);
        m.put("workers", workers);
        m.put("epochs", epochs);
        m.put("batch", batch);
        m.put("learning-rate", learningRate);
        m.put("seed", seed);
        m.put("compress", byteps.compress.name().toLowerCase(Locale.ROOT));
        m.put("async", byteps.async);
        m.put("augment", byteps.augment);
        m.put("averaging-frequency", averagingFrequency);
        m.put("eval-every", byteps.evalEvery);
        m.put("servers", byteps.servers);
        m.put("partition-bytes", byteps.partitionBytes);
        m.put("keep", keep);
        return m;
    }

    /**
     * The configuration of a resumed run: its stored settings, except the options given on this command
     * line ({@code explicit}) that may change. A defining setting given with another value is refused.
     */
    TrainConfig resumed(String run, Map<String, Object> stored, Set<String> explicit) {
        Map<String, Object> given = settings(), merged = new LinkedHashMap<>(given);
        for (var e : given.entrySet()) {
            Object was = stored.get(e.getKey());
            if (was == null) continue; // the earlier layout recorded only some settings
            boolean differs = e.getValue() instanceof Number n ? num(stored, e.getKey()).doubleValue() != n.doubleValue()
                    : !String.valueOf(was).equals(String.valueOf(e.getValue()));
            if (explicit.contains(e.getKey())) {
                if (differs && DEFINING.contains(e.getKey())) {
                    throw new LiveTrainException("--" + e.getKey() + " " + e.getValue() + ": run " + run + " was trained with --" + e.getKey() + " " + was
                            + "; a resumed run keeps the settings it started with (--epochs, --eval-every, --keep, --servers and --partition-bytes may change)");
                }
            } else {
                merged.put(e.getKey(), was);
            }
        }
        return fromSettings(merged);
    }

    private TrainConfig fromSettings(Map<String, Object> s) {
        return new TrainConfig(str(s, "data"), s.get("input-profile") == null ? null : str(s, "input-profile"),
                s.get("channels") == null ? 0 : num(s, "channels").intValue(), num(s, "workers").intValue(), num(s, "epochs").intValue(), num(s, "batch").intValue(),
                num(s, "learning-rate").doubleValue(), str(s, "model"),
                s.get("model-config") == null ? null : str(s, "model-config"), s.get("init-from") == null ? null : str(s, "init-from"),
                s.get("freeze") == null ? 0 : num(s, "freeze").intValue(), str(s, "trainer"), num(s, "averaging-frequency").intValue(),
                new BytePS(num(s, "eval-every").intValue(), num(s, "servers").intValue(), num(s, "partition-bytes").intValue(), compression(str(s, "compress")),
                        Boolean.parseBoolean(str(s, "async")), Boolean.parseBoolean(str(s, "augment"))),
                checkpointDir, num(s, "keep").intValue(), num(s, "seed").longValue(), conf);
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
