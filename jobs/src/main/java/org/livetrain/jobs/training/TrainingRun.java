package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.livetrain.data.Dataset;
import org.livetrain.data.Manifest;
import org.livetrain.data.Split;
import org.livetrain.model.ModelSpec;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunLock;
import org.livetrain.store.RunStore;

import java.util.Optional;

/**
 * A run prepared by the training job, as a {@link Trainer} is handed it: its settings, Spark (and whether the
 * job created the session, so stops it at the end, or trains in a session of its caller's), what it
 * trains on and with, where it publishes (the run, under the directory's lock), where its progress goes,
 * where a resumed run starts, and why tasks failed.
 */
public record TrainingRun(TrainConfig config, SparkSession spark, boolean ownsSpark, Inputs inputs, RunStore run, RunLock lock, Progress progress, Start start,
                          TaskFailures failures) {
    /**
     * What the run trains on and with: the data set (its contract decided, bad examples left out), its split, the
     * network, the data check, and the listing the run freezes (a folder's or table's, before the check).
     */
    public record Inputs(Dataset data, Split split, ModelSpec model, DataCheck check, Optional<Manifest> listing) {
        /** Steps in one epoch: the smallest kept shard when the first pass kept them (a few may have lost bad examples), in batches of --batch. */
        public int stepsPerEpoch(TrainConfig c) {
            return check.firstPass().map(f -> (f.smallest() + c.batch() - 1) / c.batch()).orElseGet(() -> c.stepsPerEpoch(split));
        }
    }

    /** Where a run starts: a resumed run's checkpoint (empty for a new run) and its training time before this process. */
    public record Start(Optional<Pointer> from, double elapsedBefore) {
        public static final Start NEW = new Start(Optional.empty(), 0);
    }

    public JavaSparkContext jsc() {
        return JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    public Dataset data() {
        return inputs.data();
    }

    public Split split() {
        return inputs.split();
    }

    public ModelSpec model() {
        return inputs.model();
    }

    public CheckpointStore store() {
        return run.directory();
    }

    /** The run's checkpoint to continue from, when it is resumed. */
    public Optional<Pointer> resumeFrom() {
        return start.from();
    }

    /** The run's training time: before this process (when resumed) and in it. */
    public double elapsedSeconds() {
        return start.elapsedBefore() + progress.elapsedSeconds();
    }
}
