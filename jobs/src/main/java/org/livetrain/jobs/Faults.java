package org.livetrain.jobs;

import org.livetrain.ps.SummationServer;

import java.io.Serializable;
import java.util.Map;

/**
 * Fault injection for the tests of recovery, in one place: a worker that fails, a server shard that dies.
 * Built from the job's Spark settings {@value #FAIL_AT_STEP} and {@value #KILL_SERVER_IN_ROUND}, which
 * only tests set; without them it is {@link #NONE} and every check does nothing.
 */
record Faults(long failAtStep, long killServerInRound) implements Serializable {
    /** Worker 1 fails once, in the first attempt, when it reaches this step. */
    static final String FAIL_AT_STEP = "spark.livetrain.test.failAtStep";
    /** The first server shard dies in this round (= step), in the first attempt. */
    static final String KILL_SERVER_IN_ROUND = "spark.livetrain.test.killServerInRound";
    static final Faults NONE = new Faults(-1, -1);

    static Faults from(Map<String, String> conf) {
        if (!conf.containsKey(FAIL_AT_STEP) && !conf.containsKey(KILL_SERVER_IN_ROUND)) return NONE;
        return new Faults(Long.parseLong(conf.getOrDefault(FAIL_AT_STEP, "-1")), Long.parseLong(conf.getOrDefault(KILL_SERVER_IN_ROUND, "-1")));
    }

    /** Before a worker's step. */
    void beforeStep(int worker, long step, int attempt) {
        if (worker == 1 && step == failAtStep && attempt == 0) {
            throw new IllegalStateException("test hook " + FAIL_AT_STEP + ": worker 1 fails at step " + step);
        }
    }

    /** When the first server shard has started. */
    void onServerStarted(SummationServer server, int attempt) {
        if (killServerInRound >= 0 && attempt == 0) server.dieInRound(killServerInRound);
    }
}
