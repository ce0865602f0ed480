package org.livetrain.jobs.byteps;

import org.livetrain.LiveTrainException;
import org.livetrain.ps.PushPull;
import org.livetrain.ps.SummationServer;

import java.io.Serializable;
import java.util.Map;

/**
 * Where a test may step into a run of the BytePS trainer, and the only place it can: the exchange a worker
 * uses, a summation-server shard as it starts, and the moment between writing a checkpoint and publishing
 * its pointers; and into the Kafka scorer between writing a micro-batch's answers and Spark recording it. A run names an implementation with {@code --conf spark.livetrain.hooks=CLASS} (a class
 * with a constructor taking the run's Spark settings, on the executors' class path: the tests' fault
 * injection); without it every hook does nothing.
 */
public interface Hooks extends Serializable {
    /** The Spark setting that names an implementation. */
    String CLASS = "spark.livetrain.hooks";
    Hooks NONE = new Hooks() {
    };

    /** The exchange worker {@code worker} uses in this attempt: {@code servers} itself, or something around it. */
    default PushPull exchange(PushPull servers, int worker, int attempt) {
        return servers;
    }

    /** The first summation-server shard of an attempt has started. */
    default void shardStarted(SummationServer shard, int attempt) {
    }

    /** A checkpoint is written and verified, and no pointer names it yet. */
    default void checkpointWritten(long step) {
    }

    /** The Kafka scorer ({@code stream}): a micro-batch's answers are written, and Spark has not recorded the batch as done. */
    default void answersWritten(long batch) {
    }

    /** The hooks a run's settings name, or {@link #NONE}. */
    static Hooks from(Map<String, String> conf) {
        String name = conf.get(CLASS);
        if (name == null) return NONE;
        try {
            return (Hooks) Class.forName(name).getConstructor(Map.class).newInstance(Map.copyOf(conf));
        } catch (ReflectiveOperationException | ClassCastException e) {
            throw new LiveTrainException("--conf " + CLASS + "=" + name + ": not a class of Hooks with a constructor taking the settings (" + e + ")");
        }
    }
}
