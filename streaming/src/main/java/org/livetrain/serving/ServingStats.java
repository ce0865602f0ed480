package org.livetrain.serving;

import org.apache.spark.util.AccumulatorV2;

import java.util.Arrays;

/**
 * What the scorer's executors did, summed on the driver (a Spark accumulator): requests, error records,
 * a latency histogram, the newest model step used, and (for Spark's metrics) a histogram of each answer's
 * scoring time and one of the images per forward pass. Latency runs from the Kafka record's timestamp
 * (the producer's send time unless the topic uses log-append time) to the moment its answer was made,
 * so it includes the time a request waited in the topic. Buckets are a quarter of a power of two wide
 * (19%): percentiles read from them are within that of the true value.
 */
public final class ServingStats extends AccumulatorV2<long[], ServingStats.Snapshot> {
    private static final long serialVersionUID = 1L;
    static final int BUCKETS = 84; // up to 2^20.75 ms, about 30 minutes

    /** The figures at one moment; {@link #minus} gives those of an interval. */
    public record Snapshot(long requests, long errors, long[] histogram, long modelStep, long[] scoring, long[] batchSizes) {
        public Snapshot(long requests, long errors, long[] histogram, long modelStep) {
            this(requests, errors, histogram, modelStep, new long[BUCKETS], new long[Scorer.BATCH + 1]);
        }

        public Snapshot minus(Snapshot earlier) {
            return new Snapshot(requests - earlier.requests, errors - earlier.errors, minus(histogram, earlier.histogram), modelStep,
                    minus(scoring, earlier.scoring), minus(batchSizes, earlier.batchSizes));
        }

        private static long[] minus(long[] a, long[] b) {
            long[] d = a.clone();
            for (int i = 0; i < d.length; i++) d[i] -= b[i];
            return d;
        }

        /** The upper edge of the bucket holding quantile q (0..1), in milliseconds; 0 without requests. */
        public double percentileMillis(double q) {
            long total = Arrays.stream(histogram).sum();
            if (total == 0) return 0;
            long rank = (long) Math.ceil(q * total), seen = 0;
            for (int i = 0; i < histogram.length; i++) {
                seen += histogram[i];
                if (seen >= rank) return upperEdgeMillis(i);
            }
            return upperEdgeMillis(histogram.length - 1);
        }
    }

    private long requests, errors, modelStep = -1;
    private long[] histogram = new long[BUCKETS], scoring = new long[BUCKETS], batchSizes = new long[Scorer.BATCH + 1];

    static int bucket(double millis) {
        if (millis < 1) return 0;
        return Math.min(BUCKETS - 1, 1 + (int) Math.floor(4 * Math.log(millis) / Math.log(2)));
    }

    /** Bucket 0 holds [0, 1) ms; bucket i > 0 holds [2^((i-1)/4), 2^(i/4)) ms. */
    public static double upperEdgeMillis(int bucket) {
        return Math.pow(2, bucket / 4.0);
    }

    /** One answered request. */
    public void record(double latencyMillis, boolean error, long step) {
        add(new long[]{Math.round(Math.max(0, latencyMillis)), error ? 1 : 0, step});
    }

    /** One forward pass (or preparation alone, when no image of the group could be read): its images, and its time per answer. */
    public void scored(int images, int answers, double millis) {
        batchSizes[Math.min(batchSizes.length - 1, Math.max(0, images))]++;
        scoring[bucket(millis / Math.max(1, answers))] += answers;
    }

    @Override
    public boolean isZero() {
        return requests == 0 && errors == 0 && modelStep == -1;
    }

    @Override
    public ServingStats copy() {
        ServingStats c = new ServingStats();
        c.requests = requests;
        c.errors = errors;
        c.modelStep = modelStep;
        c.histogram = histogram.clone();
        c.scoring = scoring.clone();
        c.batchSizes = batchSizes.clone();
        return c;
    }

    @Override
    public void reset() {
        requests = 0;
        errors = 0;
        modelStep = -1;
        histogram = new long[BUCKETS];
        scoring = new long[BUCKETS];
        batchSizes = new long[Scorer.BATCH + 1];
    }

    @Override
    public void add(long[] v) {
        requests++;
        errors += v[1];
        histogram[bucket(v[0])]++;
        modelStep = Math.max(modelStep, v[2]);
    }

    @Override
    public void merge(AccumulatorV2<long[], Snapshot> other) {
        ServingStats o = (ServingStats) other;
        requests += o.requests;
        errors += o.errors;
        modelStep = Math.max(modelStep, o.modelStep);
        for (int i = 0; i < BUCKETS; i++) {
            histogram[i] += o.histogram[i];
            scoring[i] += o.scoring[i];
        }
        for (int i = 0; i < batchSizes.length; i++) batchSizes[i] += o.batchSizes[i];
    }

    @Override
    public Snapshot value() {
        return new Snapshot(requests, errors, histogram.clone(), modelStep, scoring.clone(), batchSizes.clone());
    }
}
