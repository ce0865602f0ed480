package org.livetrain.jobs;

import org.livetrain.LiveTrainException;

import java.io.Serializable;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
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
        String trainer,
        int averagingFrequency,
        int evalEvery,
        int servers,
        int partitionBytes,
        String compress,
        boolean augment,
        boolean async,
        String checkpointDir,
        int keep,
        long seed,
        Map<String, String> conf) implements Serializable {

    /** Settings that decide what a run computes: a resumed run keeps them (only {@code epochs} may grow). */
    static final List<String> DEFINING = List.of("data", "input-profile", "channels", "model", "trainer", "workers", "batch", "learning-rate", "seed", "compress",
            "async", "augment", "averaging-frequency");

    public boolean fp16() {
        return "fp16".equals(compress);
    }

    /** The run's settings as {@code run.json} keeps them, keyed by option name (never {@code --conf}: it may hold credentials). */
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("trainer", trainer);
        m.put("data", data);
        if (inputProfile != null) m.put("input-profile", inputProfile);
        if (channels != 0) m.put("channels", channels);
        m.put("model", model);
        m.put("workers", workers);
        m.put("epochs", epochs);
        m.put("batch", batch);
        m.put("learning-rate", learningRate);
        m.put("seed", seed);
        m.put("compress", compress);
        m.put("async", async);
        m.put("augment", augment);
        m.put("averaging-frequency", averagingFrequency);
        m.put("eval-every", evalEvery);
        m.put("servers", servers);
        m.put("partition-bytes", partitionBytes);
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
                num(s, "learning-rate").doubleValue(), str(s, "model"), str(s, "trainer"), num(s, "averaging-frequency").intValue(),
                num(s, "eval-every").intValue(), num(s, "servers").intValue(), num(s, "partition-bytes").intValue(), str(s, "compress"),
                Boolean.parseBoolean(str(s, "augment")), Boolean.parseBoolean(str(s, "async")), checkpointDir, num(s, "keep").intValue(),
                num(s, "seed").longValue(), conf);
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
