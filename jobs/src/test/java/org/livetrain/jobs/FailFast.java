package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.livetrain.store.CheckpointStore;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A BytePS run damaged once it has published its first evaluation, by something no retry can fix: it must
 * end within 10 s, with exit code 2 and one line, and Spark must have run its training stage once.
 */
final class FailFast {
    private FailFast() {
    }

    /** Counts the stages Spark submits, to check that none ran twice. Named in spark.extraListeners. */
    public static final class Stages extends SparkListener {
        static final List<String> SUBMITTED = new CopyOnWriteArrayList<>();

        @Override
        public void onStageSubmitted(SparkListenerStageSubmitted s) {
            SUBMITTED.add(s.stageInfo().name() + " attempt " + s.stageInfo().attemptNumber());
        }
    }

    /** Trains into {@code checkpointDir}, runs {@code damage} after the first evaluation, checks the end; returns what the command said. */
    static Cli trainThenDamage(String checkpointDir, Runnable damage) throws Exception {
        Stages.SUBMITTED.clear();
        AtomicReference<Cli> result = new AtomicReference<>();
        Thread training = new Thread(() -> result.set(Cli.run("train", "--epochs", "3", "--eval-every", "10", "--checkpoint-dir", checkpointDir,
                "--conf", "spark.extraListeners=" + Stages.class.getName())));
        training.start();
        CheckpointStore store = CheckpointStore.open(checkpointDir, new Configuration());
        long end = System.nanoTime() + 300_000_000_000L;
        while (System.nanoTime() < end && (store.runs().isEmpty() || store.runs().get(0).history().isEmpty())) Thread.sleep(100);
        damage.run();
        long t0 = System.nanoTime();
        training.join(120_000);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Cli r = result.get();
        assertEquals(2, r.exitCode(), () -> r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(seconds < 10, "ended " + seconds + " s after the damage");
        List<String> stages = Stages.SUBMITTED.stream().filter(s -> s.contains("BytePSTrainer")).toList();
        assertEquals(1, stages.size(), () -> "one training stage, never retried: " + Stages.SUBMITTED + "\n" + r.out());
        assertTrue(stages.get(0).endsWith("attempt 0"), stages.toString());
        assertFalse(r.out().contains("attempt 1 failed"), r.out());
        return r;
    }
}
