package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaSparkContext;
import org.livetrain.data.Split;

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

    /**
     * The training examples each of the trainer's tasks keeps for the whole run (partition {@code p} of its
     * stage keeps {@code shards[p]}), read by the data check's first pass so that the stage need not read them
     * again; none for a trainer that deals anew every epoch.
     */
    default int[][] shards(TrainConfig config, Split split) {
        return new int[0][];
    }

    /** Trains the run to its last epoch, continuing from {@link TrainingRun#resumeFrom} when it is resumed. */
    void train(TrainingRun run);
}
