// Side by side in one run, same data, model, global batch and machine: single-JVM DL4J fit, the
// parameter-averaging trainer and the BytePS trainer. Run by bench/trainers.sh.
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.jobs.Progress;
import org.livetrain.jobs.TrainConfig;
import org.livetrain.jobs.TrainingJob;
import org.livetrain.model.Models;
import org.livetrain.ps.Compression;
import org.livetrain.store.HistoryEntry;
import org.livetrain.store.CheckpointStore;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

public class TrainerComparison {
    record Row(String name, double examplesPerSecond, double to96, double to97, double bestAcc, double bestAt, String pushPull) {
    }

    static final int WORKERS = 2, BATCH = 64, EVAL_EVERY = 50;
    static final double LR = 0.002;
    static final long SEED = Split.DEFAULT_SEED;

    /** {@code single OUT}: the single-JVM baseline into OUT; {@code spark EPOCHS SINGLE_RESULT}: the rest and the table. */
    public static void main(String[] args) throws Exception {
        int epochs = Integer.parseInt(args[1]);
        if (args[0].equals("single")) {
            Row r = singleJvm(epochs);
            Files.writeString(Path.of(args[2]), String.join("\t", r.name(), "" + r.examplesPerSecond(), "" + r.to96(), "" + r.to97(), "" + r.bestAcc(), "" + r.bestAt()));
            return;
        }
        String[] f = Files.readString(Path.of(args[2])).split("\t");
        Row single = new Row(f[0], Double.parseDouble(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5]), "-");
        Path work = Files.createTempDirectory("livetrain-bench-");
        List<Row> rows = new ArrayList<>();
        rows.add(single);
        rows.add(spark("averaging", epochs, work.resolve("averaging")));
        rows.add(spark("byteps", epochs, work.resolve("byteps")));
        System.out.printf(Locale.ROOT, "%n%d epochs of the 8,000 bundled training digits, LeNet, Adam lr %s, global batch %d (%d workers x %d where distributed), %d cores%n",
                epochs, LR, WORKERS * BATCH, WORKERS, BATCH, Runtime.getRuntime().availableProcessors());
        System.out.println("| trainer | examples/s (whole run, evaluations included) | time to 0.96 dev | time to 0.97 dev | best dev (at) | push/pull share |");
        System.out.println("| --- | --- | --- | --- | --- | --- |");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %.0f | %s | %s | %.4f (%.0f s) | %s |%n", r.name(), r.examplesPerSecond(), t(r.to96()), t(r.to97()), r.bestAcc(), r.bestAt(), r.pushPull());
        }
        Row avg = rows.get(1), bp = rows.get(2);
        System.out.printf(Locale.ROOT, "%nratios: byteps/averaging time to 0.97 = %s; byteps/single-JVM examples/s = %.2f; byteps/averaging examples/s = %.2f%n",
                Double.isNaN(bp.to97()) || Double.isNaN(avg.to97()) ? "n/a" : String.format(Locale.ROOT, "%.2f (averaging takes %.2fx as long)", bp.to97() / avg.to97(), avg.to97() / bp.to97()),
                bp.examplesPerSecond() / single.examplesPerSecond(), bp.examplesPerSecond() / avg.examplesPerSecond());
        System.exit(0); // a non-daemon thread left by Spark or ND4J would keep the JVM (and the script) waiting
    }

    static String t(double s) {
        return Double.isNaN(s) ? "not reached" : String.format(Locale.ROOT, "%.0f s", s);
    }

    /** DL4J fit() in this JVM on batches of the global size, evaluated on the same schedule as byteps. */
    static Row singleJvm(int epochs) {
        // this JVM was started with OMP_NUM_THREADS = all cores (the distributed trainers get one per task)
        int cores = Nd4j.getEnvironment().maxThreads();
        Dataset data = Dataset.open("digits", new Configuration());
        Split split = data.split(SEED);
        List<LabeledImage> train = new ArrayList<>(), dev = new ArrayList<>();
        data.pool().read(split.train()).forEachRemaining(train::add);
        data.pool().read(split.dev()).forEachRemaining(dev::add);
        DataSet devSet = Batches.toDataSet(dev, 10);
        MultiLayerNetwork net = Models.create(Models.Kind.LENET, data.shape(), 10, LR, SEED).stack();
        long start = System.nanoTime(), trainNanos = 0, examples = 0, step = 0;
        double to96 = Double.NaN, to97 = Double.NaN, best = 0, bestAt = 0;
        for (int e = 1; e <= epochs; e++) {
            Collections.shuffle(train, new Random(SEED + e));
            for (int i = 0; i + 1 <= train.size(); i += WORKERS * BATCH) {
                List<LabeledImage> b = train.subList(i, Math.min(train.size(), i + WORKERS * BATCH));
                DataSet ds = Batches.toDataSet(b, 10);
                long t0 = System.nanoTime();
                net.fit(ds);
                trainNanos += System.nanoTime() - t0;
                examples += b.size();
                step++;
                boolean end = i + WORKERS * BATCH >= train.size();
                if (step % EVAL_EVERY == 0 || end) {
                    INDArray out = net.output(devSet.getFeatures(), false);
                    double acc = out.argMax(1).eq(devSet.getLabels().argMax(1)).castTo(DataType.INT).sumNumber().doubleValue() / dev.size();
                    double now = (System.nanoTime() - start) / 1e9;
                    if (acc >= 0.96 && Double.isNaN(to96)) to96 = now;
                    if (acc >= 0.97 && Double.isNaN(to97)) to97 = now;
                    if (acc > best) {
                        best = acc;
                        bestAt = now;
                    }
                    System.out.printf(Locale.ROOT, "single-JVM fit: epoch %d step %d dev %.4f at %.0f s%n", e, step, acc, now);
                }
            }
        }
        return new Row("single-JVM DL4J fit (batch " + WORKERS * BATCH + ", " + cores + " threads)", examples / ((System.nanoTime() - start) / 1e9), to96, to97, best, bestAt, "-");
    }

    static Row spark(String trainer, int epochs, Path ckpt) {
        TrainConfig cfg = new TrainConfig("digits", null, 0, WORKERS, epochs, BATCH, LR, "lenet", null, null, 0, trainer, 5,
                new TrainConfig.BytePS(EVAL_EVERY, 0, 262144, Compression.NONE, false, false),
                ckpt.toString(), 3, SEED, Map.of());
        TrainingJob.run(cfg, TrainingJob.RunRequest.NEW, new Progress(System.out::println));
        List<HistoryEntry> h = CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().history();
        double to96 = Double.NaN, to97 = Double.NaN, best = 0, bestAt = 0, eps = 0, share = 0;
        for (HistoryEntry n : h) {
            double acc = n.meta().devAccuracy(), at = n.meta().elapsedSeconds();
            if (acc >= 0.96 && Double.isNaN(to96)) to96 = at;
            if (acc >= 0.97 && Double.isNaN(to97)) to97 = at;
            if (acc > best) {
                best = acc;
                bestAt = at;
            }
            share += n.meta().stat("push_pull_share") == null ? 0 : n.meta().stat("push_pull_share");
        }
        HistoryEntry last = h.get(h.size() - 1);
        eps = last.step() * (double) (WORKERS * BATCH) / last.meta().elapsedSeconds();
        String name = trainer.equals("byteps") ? "byteps, 2 workers, 2 colocated servers" : "averaging, 2 workers (evaluates per epoch)";
        return new Row(name, eps, to96, to97, best, bestAt,
                trainer.equals("byteps") ? String.format(Locale.ROOT, "%.1f%%", 100 * share / h.size()) : "-");
    }
}
