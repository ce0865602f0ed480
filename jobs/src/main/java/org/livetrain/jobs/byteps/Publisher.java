package org.livetrain.jobs.byteps;

import org.livetrain.image.InputContract;
import org.livetrain.model.Network;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.Position;
import org.livetrain.store.RunStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Worker 0 writes checkpoints in the background, from a snapshot (a clone) of the network, so that the
 * workers do not wait for zip compression and storage. Publications keep their order; every failed one
 * fails the worker at its next evaluation or at the end, also when others were queued behind it.
 */
final class Publisher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Publisher.class);
    private final RunStore store;
    /** The input contract of every model published: it goes inside each model.zip. */
    private final InputContract input;
    private final Hooks hooks;
    private final int attempt;
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "livetrain-publisher");
        t.setDaemon(true);
        return t;
    });
    /** Publications in the order they were asked for; each is checked. */
    private final Deque<Future<?>> pending = new ArrayDeque<>();

    /** @param attempt the training stage's attempt: once a later one has fenced the run, this one publishes nothing more */
    Publisher(RunStore store, InputContract input, Hooks hooks, int attempt) {
        this.store = store;
        this.input = input;
        this.hooks = hooks;
        this.attempt = attempt;
    }

    void publish(Network snapshot, CheckpointMeta meta) throws Exception {
        check();
        pending.add(thread.submit(() -> {
            RunStore.Written written = store.write(snapshot, input, meta, attempt);
            hooks.checkpointWritten(meta.step());
            return store.point(written);
        }));
    }

    /** Replaces progress.json in the background; a failed write only costs the bar a refresh. */
    void progress(Position position) {
        thread.submit(() -> {
            try {
                store.writeProgress(position);
            } catch (RuntimeException e) {
                LOG.warn("progress not written: {}", e.getMessage());
            }
        });
    }

    /** Rethrows the first failed publication among those done; forgets the ones that succeeded. */
    private void check() throws Exception {
        while (!pending.isEmpty() && pending.peekFirst().isDone()) unwrap(pending.pollFirst());
    }

    /** Waits for every publication; rethrows the first that failed. */
    void drain() throws Exception {
        while (!pending.isEmpty()) unwrap(pending.pollFirst());
    }

    private static void unwrap(Future<?> publication) throws Exception {
        try {
            publication.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : new RuntimeException(e.getCause());
        }
    }

    /**
     * Waits (up to 60 s, even when the task is being killed) for the publication under way, so that no
     * attempt's checkpoint lands after the next attempt has started.
     */
    @Override
    public void close() {
        thread.shutdown();
        boolean interrupted = Thread.interrupted();
        long end = System.nanoTime() + 60_000_000_000L;
        while (!thread.isTerminated() && System.nanoTime() < end) {
            try {
                thread.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
