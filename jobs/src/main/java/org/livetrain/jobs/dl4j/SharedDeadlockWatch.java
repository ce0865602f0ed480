package org.livetrain.jobs.dl4j;

import org.apache.spark.api.java.JavaSparkContext;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Turns a known hang of DL4J 1.0.0-M2's gradient sharing into a failure. When an epoch starts, DL4J's
 * ParallelWrapper starts one trainer thread per worker; thread 0 trains the original model inside its
 * synchronized {@code fit} and, at its first update, waits in {@code EncodedGradientsAccumulator.synchronize}
 * for every trainer, while another trainer may still be copying that model's updater and needs its monitor.
 * Neither moves again (seen here at the start of the third epoch of a 5-epoch run). This watch looks at the
 * JVM's threads every few seconds; when a trainer thread has been blocked on a monitor held by a thread
 * waiting in that synchronize for three looks in a row, it cancels the Spark jobs so that {@code fit}
 * returns, and {@link #fired} says why. The trainer threads stay stuck: the command then ends.
 */
final class SharedDeadlockWatch implements AutoCloseable {
    private static final long EVERY_MS = 5_000;
    private static final int LOOKS = 3;
    private final Thread thread;
    private final AtomicBoolean fired = new AtomicBoolean();

    SharedDeadlockWatch(JavaSparkContext jsc) {
        this.thread = new Thread(() -> watch(jsc), "shared-trainer-deadlock-watch");
        thread.setDaemon(true);
        thread.start();
    }

    boolean fired() {
        return fired.get();
    }

    private void watch(JavaSparkContext jsc) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int seen = 0;
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(EVERY_MS);
                seen = deadlocked(mx) ? seen + 1 : 0;
                if (seen >= LOOKS) {
                    fired.set(true);
                    jsc.cancelAllJobs();
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A ParallelWrapper trainer blocked on a monitor whose owner waits in the accumulator's synchronize. */
    static boolean deadlocked(ThreadMXBean mx) {
        for (ThreadInfo t : mx.dumpAllThreads(false, false)) {
            if (t == null || t.getThreadState() != Thread.State.BLOCKED || !t.getThreadName().startsWith("ParallelWrapper")) continue;
            ThreadInfo owner = mx.getThreadInfo(t.getLockOwnerId(), Integer.MAX_VALUE);
            if (owner == null) continue;
            for (StackTraceElement f : owner.getStackTrace()) {
                if (f.getClassName().endsWith("EncodedGradientsAccumulator") && f.getMethodName().equals("synchronize")) return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        thread.interrupt();
    }
}
