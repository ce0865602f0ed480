package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.data.Pool;
import org.livetrain.data.Split;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;

/**
 * Bad data is left out before a run is split and sharded: the BytePS workers step in lockstep, so no worker
 * may discover a bad file mid-epoch and skip it. One pass on the executors (the first pass) reads, decodes
 * and prepares every example of the pool as training will; the ones that cannot be used are counted, a few
 * named, and left out. More than {@code --bad-data-limit} of them ends the run at its start, in one line.
 * A trainer that deals fixed shards hands them in: partition {@code p} then keeps the prepared examples of
 * {@code shards[p]} on local disk ({@link FirstPass}), and the trainer's stage reads them from there instead
 * of reading and decoding every file a second time.
 *
 * @param data      the data set without the examples left out
 * @param checked   examples looked at
 * @param refused   the examples left out, and why
 * @param seconds   what the pass took
 * @param firstPass the kept shards, when a trainer asked for them
 */
public record DataCheck(Dataset data, int checked, List<Pool.Refused> refused, double seconds, Optional<FirstPass> firstPass) {
    /** Examples named in the run's first lines and run.json; the rest are counted. */
    static final int NAMED = 5;

    /**
     * The prepared examples of each shard, partition {@code p} holding {@code shards[p]} without its refused
     * examples (refusals of the other examples ride along in the partitions and are skipped), persisted on the
     * executors' local disks; lost blocks are read again from the data. {@link #close} drops them.
     *
     * @param smallest the fewest examples a shard kept: what an epoch's steps are counted from
     */
    public record FirstPass(JavaRDD<Pool.Checked> examples, Broadcast<Pool> pool, int smallest) implements AutoCloseable {
        @Override
        public void close() {
            examples.unpersist(false);
            pool.unpersist();
        }
    }

    /** What one partition of the pass reads: the examples it keeps, and the ones it only checks. */
    private record Part(int[] keep, int[] check) implements Serializable {
    }

    /** What one partition found: the examples it kept and the ones it refused. */
    private record Found(int kept, List<Pool.Refused> refused) implements Serializable {
    }

    /**
     * Checks every example of the pool in at least {@code tasks} partitions (one per shard when {@code shards}
     * are given, whose examples are kept), says the outcome in one line; refuses the data when more than
     * {@code limit} of it is bad. Data whose examples cannot fail one by one is not read.
     */
    public static DataCheck run(JavaSparkContext jsc, Dataset data, int[][] shards, int tasks, double limit, Progress progress) {
        Pool pool = data.pool();
        if (!pool.examplesCanFail()) return new DataCheck(data, 0, List.of(), 0, Optional.empty());
        long started = System.nanoTime();
        List<Part> parts = parts(pool.size(), shards, Math.max(tasks, shards.length));
        Broadcast<Pool> shared = jsc.broadcast(pool); // the listing reaches each executor once, not in every task
        jsc.setJobDescription("LiveTrain: read, check and prepare every image of " + data.spec() + (shards.length > 0 ? " (the workers' first pass)" : ""));
        JavaRDD<Pool.Checked> pass = jsc.parallelize(parts, parts.size()).mapPartitions(it -> examples(shared.value(), it.next()));
        if (shards.length > 0) pass.persist(StorageLevel.DISK_ONLY());
        List<Found> found;
        try {
            found = pass.mapPartitions(DataCheck::found).collect();
        } catch (RuntimeException e) {
            pass.unpersist(false);
            shared.unpersist();
            throw e;
        } finally {
            jsc.setJobDescription(null);
        }
        List<Pool.Refused> refused = new ArrayList<>();
        found.forEach(f -> refused.addAll(f.refused()));
        refused.sort(Comparator.comparingInt(Pool.Refused::index));
        Optional<FirstPass> kept = Optional.empty();
        if (shards.length > 0) kept = Optional.of(new FirstPass(pass, shared, found.stream().limit(shards.length).mapToInt(Found::kept).min().orElse(0)));
        else shared.unpersist();
        DataCheck check = new DataCheck(data.without(refused.stream().mapToInt(Pool.Refused::index).toArray()), pool.size(), refused,
                (System.nanoTime() - started) / 1e9, kept);
        if (refused.size() > limit * pool.size()) {
            kept.ifPresent(FirstPass::close);
            throw new LiveTrainException("--data " + data.spec() + ": " + check.summary() + "; more than --bad-data-limit " + limit + " allows");
        }
        progress.line("data check: %s (%.1f s)", check.summary(), check.seconds());
        return check;
    }

    /** Partition p keeps shards[p]; every other example of the pool is checked by one of the partitions. */
    private static List<Part> parts(int size, int[][] shards, int n) {
        boolean[] inShard = new boolean[size];
        for (int[] s : shards) for (int i : s) inShard[i] = true;
        int[] rest = IntStream.range(0, size).filter(i -> !inShard[i]).toArray();
        int[][] slices = Split.slices(rest, n);
        List<Part> parts = new ArrayList<>(n);
        for (int p = 0; p < n; p++) parts.add(new Part(p < shards.length ? shards[p] : new int[0], slices[p]));
        return parts;
    }

    /** A partition's outcomes: its shard's examples kept (or refused), then the refusals among the examples it only checks. */
    private static Iterator<Pool.Checked> examples(Pool pool, Part part) {
        Iterator<Pool.Checked> kept = pool.checked(part.keep(), true), checked = pool.checked(part.check(), false);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return kept.hasNext() || checked.hasNext();
            }

            @Override
            public Pool.Checked next() {
                return kept.hasNext() ? kept.next() : checked.next();
            }
        };
    }

    private static Iterator<Found> found(Iterator<Pool.Checked> outcomes) {
        int kept = 0;
        List<Pool.Refused> refused = new ArrayList<>();
        while (outcomes.hasNext()) {
            Pool.Checked c = outcomes.next();
            if (c.example() != null) kept++;
            else refused.add(c.refused());
        }
        return List.of(new Found(kept, refused)).iterator();
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
