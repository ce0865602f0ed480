package org.livetrain.jobs.byteps;

import org.livetrain.metrics.Readings;

/**
 * What each training step adds to its JVM's worker {@link Readings} (Spark's metrics, through {@code MetricsPlugin}):
 * a few adds to striped counters and volatile writes, no lock and no allocation ({@code bench/metrics-cost.sh}
 * measures it against a step).
 */
public final class StepReadings {
    private long computeNanos, exchangeNanos, pushed, pulled;

    /** One step: its number, examples and loss, and the worker's totals after it (time computing and exchanging, bytes). */
    public void step(long step, int examples, double loss, long compute, long exchange, long bytesPushed, long bytesPulled) {
        Readings.Worker.STEPS.add(1);
        Readings.Worker.EXAMPLES.add(examples);
        Readings.Worker.STEP.set(step);
        Readings.Worker.TRAIN_LOSS.set(loss);
        Readings.Worker.COMPUTE_SECONDS.add((compute - computeNanos) / 1e9);
        Readings.Worker.EXCHANGE_SECONDS.add((exchange - exchangeNanos) / 1e9);
        Readings.Worker.BYTES_PUSHED.add(bytesPushed - pushed);
        Readings.Worker.BYTES_PULLED.add(bytesPulled - pulled);
        from(compute, exchange, bytesPushed, bytesPulled);
    }

    /** Counts from these totals on (a worker built or resumed). */
    public void from(long compute, long exchange, long bytesPushed, long bytesPulled) {
        computeNanos = compute;
        exchangeNanos = exchange;
        pushed = bytesPushed;
        pulled = bytesPulled;
    }
}
