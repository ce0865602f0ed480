package org.livetrain.jobs.training;

import org.livetrain.metrics.Readings;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.Consumer;
import org.livetrain.store.CheckpointMeta;

/**
 * What a training run prints: one line per evaluation, a summary at the end, and its position between
 * evaluations: on an interactive terminal a bar redrawn in place, otherwise a plain line when nothing
 * was printed for {@value #QUIET_SECONDS} s.
 */
public final class Progress {
    static final int QUIET_SECONDS = 10;
    static final int BAR = 30;
    private final Consumer<String> out;
    private final PrintStream bar;
    private final boolean positions;
    private final long quietNanos;
    private final long start = System.nanoTime();
    private long lastLine = start;
    private int barWidth;

    /** Lines only: no position between evaluations (the prompt of --live has its own status command). */
    public Progress(Consumer<String> out) {
        this(out, null, false);
    }

    /**
     * @param out       receives whole lines
     * @param bar       an interactive terminal to draw the bar on, or null for plain position lines
     * @param positions whether to show the position between evaluations at all
     */
    public Progress(Consumer<String> out, PrintStream bar, boolean positions) {
        this(out, bar, positions, QUIET_SECONDS);
    }

    Progress(Consumer<String> out, PrintStream bar, boolean positions, int quietSeconds) {
        this.out = out;
        this.bar = bar;
        this.positions = positions;
        this.quietNanos = quietSeconds * 1_000_000_000L;
    }

    public double elapsedSeconds() {
        return (System.nanoTime() - start) / 1e9;
    }

    public synchronized void line(String fmt, Object... args) {
        clearBar();
        out.accept(String.format(Locale.ROOT, fmt, args));
        lastLine = System.nanoTime();
    }

    /**
     * One evaluation: {@code bestWhere} says which checkpoint the served best is ({@code step 150}, or
     * {@code step 189 of run 20261128-035711} when it belongs to an earlier run); {@code *} marks a new best.
     */
    public void evaluation(CheckpointMeta m, int epochs, double bestAccuracy, String bestWhere, boolean newBest) {
        Readings.Driver.EPOCH.set(m.epoch());
        Readings.Driver.STEP.set(m.step());
        Readings.Driver.DEV_ACCURACY.set(m.devAccuracy());
        Readings.Driver.BEST_DEV_ACCURACY.set(bestAccuracy);
        Readings.Driver.EXAMPLES_PER_SECOND.set(m.timing().examplesPerSecond());
        if (newBest) Readings.Driver.BEST_STEP.set(m.step());
        line("epoch %d/%d  step %d  %.0f ex/s  train loss %.4f  dev acc %.4f  best %.4f (%s)%s  %s", m.epoch(), epochs, m.step(),
                m.timing().examplesPerSecond(), m.evaluation().trainLoss(), m.devAccuracy(), bestAccuracy, bestWhere, newBest ? " *" : "", clock(elapsedSeconds()));
    }

    /** Where training is between evaluations. */
    public synchronized void position(long step, long totalSteps, double stepsPerSecond) {
        Readings.Driver.STEP.set(step);
        Readings.Driver.TOTAL_STEPS.set(totalSteps);
        if (!positions || totalSteps <= 0) return;
        String eta = stepsPerSecond > 0 ? clock((totalSteps - step) / stepsPerSecond) : "--:--";
        double done = Math.min(1.0, step / (double) totalSteps);
        if (bar != null) {
            int filled = (int) Math.round(done * BAR);
            String text = String.format(Locale.ROOT, "[%s%s] %d/%d steps  %.1f steps/s  ETA %s",
                    "#".repeat(filled), ".".repeat(BAR - filled), step, totalSteps, stepsPerSecond, eta);
            bar.print("\r" + text + " ".repeat(Math.max(0, barWidth - text.length())));
            bar.flush();
            barWidth = text.length();
        } else if (System.nanoTime() - lastLine >= quietNanos) {
            line("progress: %d/%d steps (%.0f%%), %.1f steps/s, about %s left", step, totalSteps, 100 * done, stepsPerSecond, eta);
        }
    }

    private void clearBar() {
        if (bar == null || barWidth == 0) return;
        bar.print("\r" + " ".repeat(barWidth) + "\r");
        bar.flush();
        barWidth = 0;
    }

    public static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }
}
