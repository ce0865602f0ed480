package org.livetrain.jobs;

import java.util.function.Consumer;
import java.util.Locale;

/** The concise lines a training run prints: one per evaluation, and a summary at the end. */
public final class Progress {
    private final Consumer<String> out;
    private final long start = System.nanoTime();

    /** @param out receives whole lines (a terminal reader in --live mode draws them above its prompt) */
    public Progress(Consumer<String> out) {
        this.out = out;
    }

    public double elapsedSeconds() {
        return (System.nanoTime() - start) / 1e9;
    }

    public void line(String fmt, Object... args) {
        out.accept(String.format(Locale.ROOT, fmt, args));
    }

    public void evaluation(int epoch, int epochs, long step, double examplesPerSecond, double trainLoss, double devAccuracy,
                           double bestAccuracy, long bestStep, boolean newBest) {
        line("epoch %d/%d  step %d  %.0f ex/s  train loss %.4f  dev acc %.4f  best %.4f (step %d)%s  %s",
                epoch, epochs, step, examplesPerSecond, trainLoss, devAccuracy, bestAccuracy, bestStep, newBest ? " *" : "", clock(elapsedSeconds()));
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }
}
