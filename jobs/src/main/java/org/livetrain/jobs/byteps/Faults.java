package org.livetrain.jobs.byteps;

import org.livetrain.ps.SummationServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Serializable;
import java.util.Map;

/**
 * Fault injection for the tests of recovery, in one place: a worker that fails, a server shard that dies,
 * a process killed between writing a checkpoint and publishing it. Tests ask for them with the Spark
 * settings below ({@code --conf}); a job without them gets {@link #NONE}, whose every hook does nothing.
 */
public record Faults(long failAtStep, long killServerInRound, long haltBeforePointer) implements Serializable {
    /** Worker 1 fails once, in the first attempt, when it reaches this step. */
    public static final String FAIL_AT_STEP = "spark.livetrain.test.failAtStep";
    /** The first server shard dies (drops every connection, answers nothing) in this round (= step), in the first attempt. */
    public static final String KILL_SERVER_IN_ROUND = "spark.livetrain.test.killServerInRound";
    /** The process halts, as under kill -9, once the checkpoint of this step is written and before any pointer names it. */
    public static final String HALT_BEFORE_POINTER = "spark.livetrain.test.haltBeforePointer";
    static final Faults NONE = new Faults(-1, -1, -1);
    private static final Logger LOG = LoggerFactory.getLogger(Faults.class);

    static Faults from(Map<String, String> conf) {
        if (!conf.containsKey(FAIL_AT_STEP) && !conf.containsKey(KILL_SERVER_IN_ROUND) && !conf.containsKey(HALT_BEFORE_POINTER)) return NONE;
        return new Faults(setting(conf, FAIL_AT_STEP), setting(conf, KILL_SERVER_IN_ROUND), setting(conf, HALT_BEFORE_POINTER));
    }

    private static long setting(Map<String, String> conf, String key) {
        return Long.parseLong(conf.getOrDefault(key, "-1"));
    }

    /** Before a worker's step. */
    void beforeStep(int worker, long step, int attempt) {
        if (worker == 1 && step == failAtStep && attempt == 0) {
            throw new IllegalStateException("test hook " + FAIL_AT_STEP + ": worker 1 fails at step " + step);
        }
    }

    /** When the first server shard has started: crashes it as soon as a worker pushes the round. */
    void onServerStarted(SummationServer server, int attempt) {
        if (killServerInRound < 0 || attempt != 0) return;
        Thread watch = new Thread(() -> {
            try {
                while (server.highestRound() < killServerInRound) Thread.sleep(1);
                LOG.warn("test hook {}: the shard dies in round {}", KILL_SERVER_IN_ROUND, killServerInRound);
                server.crash();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "livetrain-fault-server");
        watch.setDaemon(true);
        watch.start();
    }

    /** Between writing a checkpoint and publishing its pointers. */
    void beforePointer(long step) {
        if (step == haltBeforePointer) {
            LOG.warn("test hook {}: halting after writing the checkpoint of step {}", HALT_BEFORE_POINTER, step);
            Runtime.getRuntime().halt(137);
        }
    }
}
