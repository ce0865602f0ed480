package org.livetrain.jobs.byteps;

import org.livetrain.ps.Compression;
import org.livetrain.ps.PushPull;
import org.livetrain.ps.SummationServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Fault injection for the tests of recovery, through the trainer's {@link Hooks}: a worker that fails, a
 * server shard that dies, a process killed between writing a checkpoint and publishing it, a scorer killed
 * between writing a micro-batch's answers and Spark recording the batch. A test asks for
 * it with {@link #enable} and one of the settings below.
 */
public record Faults(long failAtStep, long killServerInRound, long haltBeforePointer, long haltAfterAnswers, String haltOnce) implements Hooks {
    /** Worker 1 fails once, in the first attempt, when it exchanges the gradient of this step. */
    public static final String FAIL_AT_STEP = "spark.livetrain.test.failAtStep";
    /** The first server shard dies (drops every connection) once a worker pushes this round (= step), in the first attempt. */
    public static final String KILL_SERVER_IN_ROUND = "spark.livetrain.test.killServerInRound";
    /** The process halts, as under kill -9, once the checkpoint of this step is written and before any pointer names it. */
    public static final String HALT_BEFORE_POINTER = "spark.livetrain.test.haltBeforePointer";
    /** The Kafka scorer halts, as under kill -9, once the answers of this micro-batch are written and before Spark records it. */
    public static final String HALT_AFTER_ANSWERS = "spark.livetrain.test.haltAfterAnswers";
    /** A file the halt creates: a process started again with the same settings, finding it, goes on (it replays the batch). */
    public static final String HALT_ONCE = "spark.livetrain.test.haltOnce";
    private static final Logger LOG = LoggerFactory.getLogger(Faults.class);

    /** The {@code --conf} that makes a run take these hooks. */
    public static String enable() {
        return Hooks.CLASS + "=" + Faults.class.getName();
    }

    /** As {@link Hooks#from} makes it, from the run's settings. */
    public Faults(Map<String, String> conf) {
        this(setting(conf, FAIL_AT_STEP), setting(conf, KILL_SERVER_IN_ROUND), setting(conf, HALT_BEFORE_POINTER), setting(conf, HALT_AFTER_ANSWERS),
                conf.get(HALT_ONCE));
    }

    private static long setting(Map<String, String> conf, String key) {
        return Long.parseLong(conf.getOrDefault(key, "-1"));
    }

    @Override
    public PushPull exchange(PushPull servers, int worker, int attempt) {
        if (worker != 1 || attempt != 0 || failAtStep < 0) return servers;
        return new PushPull() {
            @Override
            public void pushPull(float[] data, int keyBase, long round, int chunkFloats, Compression c) {
                if (keyBase == DataParallelWorker.GRADIENT_KEYS && round == failAtStep) {
                    throw new IllegalStateException("test hook " + FAIL_AT_STEP + ": worker 1 fails at step " + round);
                }
                servers.pushPull(data, keyBase, round, chunkFloats, c);
            }

            @Override
            public void pullInto(float[] data, int keyBase, long round, int chunkFloats, Compression c) {
                servers.pullInto(data, keyBase, round, chunkFloats, c);
            }

            @Override
            public long bytesPushed() {
                return servers.bytesPushed();
            }

            @Override
            public long bytesPulled() {
                return servers.bytesPulled();
            }
        };
    }

    /** Closes the shard, dropping every connection, as soon as a worker pushes the round. */
    @Override
    public void shardStarted(SummationServer shard, int attempt) {
        if (killServerInRound < 0 || attempt != 0) return;
        Thread watch = new Thread(() -> {
            try {
                while (shard.waits().highestRound() < killServerInRound) Thread.sleep(1);
                LOG.warn("test hook {}: the shard dies in round {}", KILL_SERVER_IN_ROUND, killServerInRound);
                shard.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "livetrain-fault-server");
        watch.setDaemon(true);
        watch.start();
    }

    @Override
    public void checkpointWritten(long step) {
        if (step == haltBeforePointer) {
            LOG.warn("test hook {}: halting after writing the checkpoint of step {}", HALT_BEFORE_POINTER, step);
            Runtime.getRuntime().halt(137);
        }
    }

    @Override
    public void answersWritten(long batch) {
        if (batch != haltAfterAnswers) return;
        try {
            if (haltOnce != null) Files.createFile(Path.of(haltOnce));
        } catch (FileAlreadyExistsException e) {
            return; // halted once already: this is the process started again
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        LOG.warn("test hook {}: halting after writing the answers of micro-batch {}", HALT_AFTER_ANSWERS, batch);
        Runtime.getRuntime().halt(137);
    }
}
