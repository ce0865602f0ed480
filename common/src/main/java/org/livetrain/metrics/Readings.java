package org.livetrain.metrics;

import com.codahale.metrics.ExponentiallyDecayingReservoir;
import com.codahale.metrics.Histogram;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * LiveTrain's own figures in this JVM, by fixed names, for Spark's metrics system ({@code MetricsPlugin} registers
 * each one when the driver or an executor starts, which is when Spark takes a plugin's metric names):
 * <pre>
 * Worker  what this JVM's tasks did, summed over its tasks: training steps and their time, bytes, the summation
 *         servers' rounds; answers scored. Each executor sends its readings to the driver every few seconds, which
 *         shows their sum (their mean for the loss, their maximum for the step) as workers.NAME.
 * Driver  the run (number, attempt, epoch, step, dev accuracy, best), the served checkpoint, and the Kafka scorer.
 * </pre>
 * Updating one costs an add to a {@link DoubleAdder} or a volatile write, nothing else (no lock, no allocation).
 */
public final class Readings {
    private Readings() {
    }

    /** One reading: its name ({@link #id}, as Spark's metrics show it) and its value, counted or set. */
    public interface Reading {
        String name();

        Value value();

        default String id() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Counts {@code v} more. */
        default void add(double v) {
            value().add(v);
        }

        /** Replaces the latest value. */
        default void set(double v) {
            value().set(v);
        }

        default double get() {
            return value().get();
        }
    }

    /** How an executor's readings combine into the driver's {@code workers.*}. */
    public enum Combine { SUM, MAX, MEAN }

    /** What the tasks of a JVM did: cumulative counts (summed over executors), and a few latest values. */
    public enum Worker implements Reading {
        STEPS, EXAMPLES, COMPUTE_SECONDS, EXCHANGE_SECONDS, BYTES_PUSHED, BYTES_PULLED,
        SERVER_ROUNDS, SERVER_WAIT_SECONDS, SERVER_REFUSALS,
        STEP(Combine.MAX), TRAIN_LOSS(Combine.MEAN), OFFHEAP_BYTES,
        ANSWERS, FORWARD_PASSES, SCORING_SECONDS, MODEL_LOADS, REFUSED_CHECKPOINTS,
        REFUSED_REQUESTS, UNREADABLE_IMAGES, NO_MODEL_ANSWERS;

        public final Combine combine;
        private final Value value = new Value();

        Worker() {
            this(Combine.SUM);
        }

        Worker(Combine combine) {
            this.combine = combine;
        }

        @Override
        public Value value() {
            return value;
        }
    }

    /** The driver's view: the training run, and the Kafka scorer's query. */
    public enum Driver implements Reading {
        RUN_NUMBER, ATTEMPT, FAILED_ATTEMPTS, EPOCH, STEP, TOTAL_STEPS, DEV_ACCURACY, BEST_DEV_ACCURACY, BEST_STEP, EXAMPLES_PER_SECOND,
        SERVING_REQUESTS, SERVING_ERRORS, SERVING_TOPIC_REFUSALS, SERVING_MODEL_STEP, SERVING_MODEL_AGE_SECONDS, SERVING_PROMOTIONS, SERVING_REFUSED_CANDIDATES,
        SERVING_INPUT_ROWS_PER_SECOND, SERVING_PROCESSED_ROWS_PER_SECOND, SERVING_BATCH_MILLIS, SERVING_KAFKA_LAG;

        private final Value value = new Value();

        /** A training run starts in this JVM: the previous run's position and accuracies no longer describe it. */
        public static void newRun() {
            for (Driver d : List.of(ATTEMPT, EPOCH, STEP, TOTAL_STEPS, DEV_ACCURACY, BEST_DEV_ACCURACY, BEST_STEP, EXAMPLES_PER_SECOND)) d.value.clear();
        }

        @Override
        public Value value() {
            return value;
        }
    }

    /**
     * A count that only grows ({@link #add}) or a latest value ({@link #set}): whichever its user calls. A latest
     * value not set yet, or {@link #clear}ed, reads NaN (Prometheus shows NaN: no value, rather than a false 0).
     */
    public static final class Value {
        private final DoubleAdder sum = new DoubleAdder();
        private final AtomicLong latest = new AtomicLong(Double.doubleToRawLongBits(Double.NaN));
        private volatile boolean isLatest;

        private Value() {
        }

        void add(double v) {
            sum.add(v);
        }

        void set(double v) {
            latest.set(Double.doubleToRawLongBits(v));
            isLatest = true;
        }

        void clear() {
            latest.set(Double.doubleToRawLongBits(Double.NaN));
        }

        double get() {
            return isLatest ? Double.longBitsToDouble(latest.get()) : sum.sum();
        }
    }

    /** Push-to-answer latency of the Kafka scorer's answers, in milliseconds (the driver's; one value per answer). */
    public static final Histogram SERVING_LATENCY = new Histogram(new ExponentiallyDecayingReservoir());
    /** Scoring time per answer (its share of its forward pass, preparation and reading included), in milliseconds. */
    public static final Histogram SCORING_MILLIS = new Histogram(new ExponentiallyDecayingReservoir());
    /** Images per forward pass of the Kafka scorer. */
    public static final Histogram BATCH_SIZE = new Histogram(new ExponentiallyDecayingReservoir());

    /** This JVM's worker readings, in {@link Worker} order (what an executor sends to the driver). */
    public static double[] workers() {
        Worker[] all = Worker.values();
        double[] v = new double[all.length];
        for (int i = 0; i < all.length; i++) v[i] = all[i].get();
        return v;
    }
}
