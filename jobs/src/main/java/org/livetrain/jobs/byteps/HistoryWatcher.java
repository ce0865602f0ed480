package org.livetrain.jobs.byteps;

import org.livetrain.jobs.training.TrainingRun;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.HistoryEntry;
import org.livetrain.store.Pointer;
import org.livetrain.store.Position;

import java.time.Instant;
import java.util.List;

/**
 * The driver's view of a BytePS run, from its files only (so it works on a cluster): each new line of the
 * run's {@code history.jsonl} is printed as an evaluation, and the position in {@code progress.json} feeds
 * the progress bar. Runs on a daemon thread while the barrier stage trains.
 */
final class HistoryWatcher implements AutoCloseable {
    private final TrainingRun ctx;
    private final Thread thread;
    /** Positions written before this watcher started belong to an earlier process. */
    private final String watchFrom = Instant.now().toString();
    private int printed;
    private double best = -1;
    private String bestWhere = "none yet";

    HistoryWatcher(TrainingRun ctx) {
        this.ctx = ctx;
        this.printed = ctx.run().history().size(); // a resumed run prints only what it adds
        ctx.store().best().ifPresent(b -> {
            best = b.devAccuracy();
            bestWhere = where(b);
        });
        this.thread = new Thread(this::watch, "livetrain-progress");
        thread.setDaemon(true);
        thread.start();
    }

    /** {@code step 150}, or {@code step 150 of run ...} when the served best is another run's. */
    private String where(Pointer p) {
        return p.run() == null || p.run().equals(ctx.run().id()) ? "step " + p.step() : p.describe();
    }

    private void watch() {
        String lastSeen = null;
        while (!Thread.currentThread().isInterrupted()) {
            printNew();
            Position p = ctx.run().progress().orElse(null);
            if (p != null && p.updated() != null && !p.updated().equals(lastSeen) && p.updated().compareTo(watchFrom) > 0) {
                lastSeen = p.updated();
                ctx.progress().position(p.step(), p.totalSteps(), p.stepsPerSecond());
            }
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Prints the evaluations added since the last look. */
    private synchronized void printNew() {
        List<HistoryEntry> h;
        try {
            h = ctx.run().history();
        } catch (RuntimeException e) { // being replaced, or storage that did not answer: the next look will do
            return;
        }
        for (int i = printed; i < h.size(); i++) {
            CheckpointMeta m = h.get(i).meta();
            boolean isBest = h.get(i).best();
            if (isBest) {
                best = m.devAccuracy();
                bestWhere = "step " + m.step();
            }
            ctx.progress().evaluation(m, ctx.config().epochs(), best, bestWhere, isBest);
        }
        printed = h.size();
    }

    /** Stops watching, after printing what the run added last. */
    @Override
    public void close() {
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        printNew();
    }
}
