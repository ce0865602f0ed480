package org.livetrain.kafka;

import org.apache.spark.sql.streaming.SourceProgress;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.StreamingQueryProgress;
import org.livetrain.metrics.Readings;
import org.livetrain.serving.ServingStats;

import java.time.Instant;
import java.util.function.Supplier;

/**
 * Feeds the scorer's figures into Spark's metrics system ({@link Readings}) as each micro-batch of its query
 * ends: the query's input and processing rates and batch time (Spark's own progress), how far the Kafka source is
 * behind the input topic's end, and what the executors' answers added to {@link ServingStats} since the last
 * batch (requests, errors, the latency histograms, images per forward pass, the model step).
 */
final class ServingListener extends StreamingQueryListener {
    private final String queryName;
    private final ServingStats stats;
    /** When the served checkpoint was created (for its age), if known. */
    private final Supplier<Instant> servedCreated;
    private ServingStats.Snapshot seen;

    ServingListener(String queryName, ServingStats stats, Supplier<Instant> servedCreated) {
        this.queryName = queryName;
        this.stats = stats;
        this.servedCreated = servedCreated;
        this.seen = stats.value();
    }

    @Override
    public void onQueryStarted(QueryStartedEvent event) {
    }

    @Override
    public void onQueryProgress(QueryProgressEvent event) {
        StreamingQueryProgress p = event.progress();
        if (!queryName.equals(p.name())) return;
        Readings.Driver.SERVING_INPUT_ROWS_PER_SECOND.set(p.inputRowsPerSecond());
        Readings.Driver.SERVING_PROCESSED_ROWS_PER_SECOND.set(p.processedRowsPerSecond());
        Long trigger = p.durationMs().get("triggerExecution");
        if (trigger != null) Readings.Driver.SERVING_BATCH_MILLIS.set(trigger);
        for (SourceProgress s : p.sources()) {
            String behind = s.metrics().get("maxOffsetsBehindLatest");
            if (behind != null) Readings.Driver.SERVING_KAFKA_LAG.set(Double.parseDouble(behind));
        }
        answered();
        Instant created = servedCreated.get();
        if (created != null) Readings.Driver.SERVING_MODEL_AGE_SECONDS.set((System.currentTimeMillis() - created.toEpochMilli()) / 1000.0);
    }

    /** What the answers since the last batch add: counts, and each answer once into the histograms (a bucket's upper edge stands for its answers). */
    private synchronized void answered() {
        ServingStats.Snapshot now = stats.value(), d = now.minus(seen);
        seen = now;
        Readings.Driver.SERVING_REQUESTS.add(d.requests());
        Readings.Driver.SERVING_ERRORS.add(d.errors());
        if (now.modelStep() >= 0) Readings.Driver.SERVING_MODEL_STEP.set(now.modelStep());
        for (int i = 0; i < d.histogram().length; i++) {
            for (long k = 0; k < d.histogram()[i]; k++) Readings.SERVING_LATENCY.update(Math.round(ServingStats.upperEdgeMillis(i)));
            for (long k = 0; k < d.scoring()[i]; k++) Readings.SCORING_MILLIS.update(Math.round(ServingStats.upperEdgeMillis(i)));
        }
        for (int size = 0; size < d.batchSizes().length; size++) {
            for (long k = 0; k < d.batchSizes()[size]; k++) Readings.BATCH_SIZE.update(size);
        }
    }

    @Override
    public void onQueryTerminated(QueryTerminatedEvent event) {
    }
}
