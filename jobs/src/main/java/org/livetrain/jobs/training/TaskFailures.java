package org.livetrain.jobs.training;

import org.apache.spark.ExceptionFailure;
import org.apache.spark.SparkContext;
import org.apache.spark.Success$;
import org.apache.spark.TaskEndReason;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.TaskKilled;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.livetrain.LiveTrainException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Why the tasks of the training application failed, so that the driver can tell an error no retry can fix
 * ({@link LiveTrainException}: bad data, storage that refuses, a corrupt checkpoint) from one a retry may
 * get past (a lost executor, a dead summation server, a timeout). A task that fails with the first kind
 * cancels every job at once, so that neither Spark's task retries nor the trainer's attempts run again.
 *
 * <p>Spark's listener bus delivers a job's task ends before its job end; {@link #afterFailedJob} waits for
 * the job ends, so that it has seen every task failure of the job that just failed, and for the failed job's
 * tasks to end (a job fails at its first failed task, while the others are still being killed): an attempt
 * starts only once no task of the previous one can still publish a checkpoint.
 */
public final class TaskFailures extends SparkListener {
    private static final Duration WAIT = Duration.ofSeconds(10);
    /** A killed task's checkpoint publication may take this long to finish (see the trainer's Publisher). */
    private static final Duration TASKS_WAIT = Duration.ofSeconds(90);
    private final SparkContext sc;
    private final List<Throwable> failures = new ArrayList<>();
    private int jobsStarted, jobsEnded, tasksRunning;

    public TaskFailures(SparkContext sc) {
        this.sc = sc;
        sc.addSparkListener(this);
    }

    @Override
    public synchronized void onJobStart(SparkListenerJobStart start) {
        jobsStarted++;
    }

    @Override
    public synchronized void onJobEnd(SparkListenerJobEnd end) {
        jobsEnded++;
        notifyAll();
    }

    @Override
    public synchronized void onTaskStart(SparkListenerTaskStart start) {
        tasksRunning++;
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
        synchronized (this) {
            tasksRunning--;
            notifyAll();
        }
        TaskEndReason reason = end.reason();
        if (reason == Success$.MODULE$ || reason instanceof TaskKilled) return;
        Throwable t = reason instanceof ExceptionFailure f ? exception(f)
                : new RuntimeException(reason instanceof TaskFailedReason r ? r.toErrorString() : String.valueOf(reason));
        boolean fatal;
        synchronized (this) {
            fatal = LiveTrainException.in(t).isPresent() && failures.stream().noneMatch(x -> LiveTrainException.in(x).isPresent());
            failures.add(t);
        }
        if (fatal) sc.cancelAllJobs(); // posts an event to the scheduler; it does not block the listener bus
    }

    /** Forgets earlier failures (a new attempt starts). */
    public synchronized void clear() {
        failures.clear();
    }

    /** After a job failed, once its tasks have ended: the first error no retry can fix among their failures, if any. */
    public synchronized Optional<LiveTrainException> afterFailedJob() {
        long jobs = System.nanoTime() + WAIT.toNanos(), tasks = System.nanoTime() + TASKS_WAIT.toNanos();
        try {
            while (jobsEnded < jobsStarted && System.nanoTime() < jobs) wait(100);
            while (tasksRunning > 0 && System.nanoTime() < tasks) wait(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return failures.stream().map(LiveTrainException::in).flatMap(Optional::stream).findFirst();
    }

    /** Whether a task failed (rather than being killed) since {@link #clear}. */
    public synchronized boolean anyFailed() {
        return !failures.isEmpty();
    }

    /** The first task failure since {@link #clear}, in one line, or what the job's own error says. */
    public synchronized String firstFailure(Throwable jobError) {
        Throwable t = failures.isEmpty() ? jobError : failures.get(0);
        String m = t.getClass().getSimpleName() + ": " + t.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** The task's exception as thrown, or, if it did not survive serialisation, rebuilt from its class name and message. */
    private static Throwable exception(ExceptionFailure f) {
        if (f.exception().isDefined()) return f.exception().get();
        return LiveTrainException.class.getName().equals(f.className()) ? new LiveTrainException(f.description())
                : new RuntimeException(f.className() + ": " + f.description());
    }
}
