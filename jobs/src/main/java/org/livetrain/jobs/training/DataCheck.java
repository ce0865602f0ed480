package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.data.Pool;
import org.livetrain.data.Split;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Bad data is left out before a run is split and sharded: the BytePS workers step in lockstep, so no worker
 * may discover a bad file mid-epoch and skip it. One pass on the executors reads, decodes and prepares every
 * training-pool example as training will (as costly as the first epoch's decoding, spread over the workers);
 * the ones that cannot be used are counted, a few named, and left out. More than {@code --bad-data-limit} of
 * them ends the run at its start, in one line.
 *
 * @param data      the data set without the examples left out
 * @param checked   examples looked at
 * @param refused   the examples left out, and why
 * @param seconds   what the check took
 */
public record DataCheck(Dataset data, int checked, List<Pool.Refused> refused, double seconds) {
    /** Examples named in the run's first lines and run.json; the rest are counted. */
    static final int NAMED = 5;

    /**
     * Checks every example of the training pool in {@code tasks} tasks, says the outcome in one line; refuses the
     * data when more than {@code limit} of it is bad. Data whose examples cannot fail one by one is not read.
     */
    public static DataCheck run(JavaSparkContext jsc, Dataset data, int tasks, double limit, Progress progress) {
        Pool pool = data.pool();
        if (!pool.examplesCanFail()) return new DataCheck(data, 0, List.of(), 0);
        long started = System.nanoTime();
        jsc.setJobDescription("LiveTrain: check that every image of " + data.spec() + " can be read");
        int[] all = new int[pool.size()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        List<int[]> slices = new ArrayList<>(List.of(Split.slices(all, Math.max(1, tasks))));
        Broadcast<Pool> shared = jsc.broadcast(pool); // the listing reaches each executor once, not in every task
        List<Pool.Refused> refused;
        try {
            refused = new ArrayList<>(jsc.parallelize(slices, slices.size()).flatMap(s -> shared.value().refused(s).iterator()).collect());
        } finally {
            shared.unpersist();
            jsc.setJobDescription(null);
        }
        refused.sort(Comparator.comparingInt(Pool.Refused::index));
        DataCheck check = new DataCheck(data.without(refused.stream().mapToInt(Pool.Refused::index).toArray()), all.length, refused,
                (System.nanoTime() - started) / 1e9);
        if (refused.size() > limit * all.length) {
            throw new LiveTrainException("--data " + data.spec() + ": " + check.summary() + "; more than --bad-data-limit " + limit + " allows");
        }
        progress.line("data check: %s (%.1f s)", check.summary(), check.seconds());
        return check;
    }

    /** {@code 3 of 70000 examples cannot be used: ROOT/7/a.png: truncated PNG ...; ...}, or that all could be. */
    public String summary() {
        if (refused.isEmpty()) return "all " + checked + " examples can be used";
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%d of %d examples cannot be used and are left out", refused.size(), checked));
        for (int i = 0; i < Math.min(NAMED, refused.size()); i++) b.append(i == 0 ? ": " : "; ").append(refused.get(i).why());
        if (refused.size() > NAMED) b.append("; and ").append(refused.size() - NAMED).append(" more");
        return b.toString();
    }

    /** What run.json keeps of it. */
    public Map<String, Object> record() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("checked", checked);
        m.put("seconds", Math.round(seconds * 10) / 10.0);
        m.put("left_out", refused.size());
        m.put("named", refused.stream().limit(NAMED).map(Pool.Refused::why).toList());
        return m;
    }
}
