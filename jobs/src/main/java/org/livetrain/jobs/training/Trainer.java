package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaSparkContext;

/**
 * A way to train, as the training job calls it ({@code org.livetrain.jobs.TrainingJob}): before anything is
 * written, how many task slots it needs at once and what it needs of the cluster; then training the run
 * to its last epoch, from where a resumed run stopped, publishing checkpoints to the run as it goes. The job
 * itself scores the best checkpoint on the test split afterwards ({@link SparkNetwork#evaluator}).
 */
public interface Trainer {
    /** Task slots the run needs at once (a barrier stage schedules all its tasks together). */
    default int slots(TrainConfig config) {
        return config.workers();
    }

    /** Refuses, in one line, a cluster this trainer cannot run on; Spark is up, nothing is written yet. */
    default void check(JavaSparkContext jsc, TrainConfig config) {
    }

    /** Trains the run to its last epoch, continuing from {@link TrainingRun#resumeFrom} when it is resumed. */
    void train(TrainingRun run);
}
