// What updating LiveTrain's metrics costs a training step, measured side by side in one run: a real training
// run (1 epoch of the bundled digits, BytePS, 2 workers) gives the time of a step (step_ms of its evaluations);
// then the per-step updates the workers make (StepReadings: 8 adds and writes, and the stage's step
// accumulator) are timed in a loop, by one thread and by two at once (two workers of one JVM share the
// counters), and so is an executor's report (the snapshot sent to the driver every 2 s).
// Run by bench/metrics-cost.sh.
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.util.LongAccumulator;
import org.livetrain.cli.LiveTrain;
import org.livetrain.jobs.byteps.StepReadings;
import org.livetrain.metrics.Readings;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.HistoryEntry;

import java.io.ByteArrayInputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;

public class MetricsCost {
    static final int N = 10_000_000;
    static volatile double sink;

    public static void main(String[] a) throws Exception {
        Path ckpt = Files.createTempDirectory(Path.of(a[0]), "metrics-cost");
        int code = LiveTrain.execute(new String[]{"train", "--epochs", "1", "--eval-every", "20", "--checkpoint-dir", ckpt.toString()},
                new ByteArrayInputStream(new byte[0]), new PrintStream(System.err, true), System.err);
        if (code != 0) throw new IllegalStateException("training failed: " + code);
        List<HistoryEntry> h = CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().history();
        double stepMs = h.stream().skip(1).mapToDouble(e -> ((Number) e.meta().stats().get("step_ms")).doubleValue()).average().orElseThrow();

        double one = 0, two = 0, report = 0;
        for (int round = 0; round < 8; round++) { // the first 3 rounds warm the JIT up
            double o = perStep(1), t = perStep(2), r = perReport();
            if (round >= 3) {
                one += o / 5;
                two += t / 5;
                report += r / 5;
            }
        }
        System.out.printf(Locale.ROOT, "a training step (mean step_ms of %d evaluations): %.2f ms%n", h.size() - 1, stepMs);
        System.out.printf(Locale.ROOT, "metric updates per step: %.1f ns (one worker), %.1f ns (two workers of one JVM at once): %.5f%% and %.5f%% of a step%n",
                one, two, 100 * one / (stepMs * 1e6), 100 * two / (stepMs * 1e6));
        System.out.printf(Locale.ROOT, "an executor's report (snapshot of %d readings, every 2 s): %.0f ns%n", Readings.Worker.values().length, report);
        System.exit(0); // Spark 3.5's barrier timer thread outlives a local-mode barrier stage (SPARK-46895)
    }

    /** Nanoseconds per step of the updates, with {@code threads} workers updating at once. */
    static double perStep(int threads) throws InterruptedException {
        CountDownLatch start = new CountDownLatch(1);
        Thread[] ts = new Thread[threads];
        long[] took = new long[threads];
        for (int i = 0; i < threads; i++) {
            int me = i;
            ts[i] = new Thread(() -> {
                StepReadings r = new StepReadings();
                LongAccumulator steps = new LongAccumulator();
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                long t0 = System.nanoTime(), c = 0, x = 0, p = 0, q = 0;
                for (int s = 1; s <= N; s++) {
                    c += 20_000_000;
                    x += 5_000_000;
                    p += 1_000_000;
                    q += 1_000_000;
                    r.step(s, 64, 0.5, c, x, p, q);
                    steps.add(1);
                }
                took[me] = System.nanoTime() - t0;
            });
            ts[i].start();
        }
        start.countDown();
        for (Thread t : ts) t.join();
        long max = 0;
        for (long t : took) max = Math.max(max, t);
        return max / (double) N;
    }

    static double perReport() {
        int n = 1_000_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) sink += Readings.workers()[0];
        return (System.nanoTime() - t0) / (double) n;
    }
}
