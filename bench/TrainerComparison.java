// Side by side in one run, same data, model, global batch and machine: single-JVM DL4J fit, DL4J's
// parameter averaging, DL4J's gradient sharing and the BytePS trainer (and, with "variants", BytePS with
// fp16, other partition sizes and dedicated servers). Run by bench/trainers.sh.
import org.apache.hadoop.conf.Configuration;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.jobs.TrainingJob;
import org.livetrain.jobs.training.Progress;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.TrainerKind;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.livetrain.ps.Compression;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.HistoryEntry;
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
    /** One trainer's run: throughput, the times to the two target accuracies, the best, and (byteps) the exchange's share and bytes. */
    record Row(String name, double examplesPerSecond, double toLow, double toHigh, double bestAcc, double bestAt, String pushPull, String bytesPerStep) {
    }

    /** What every row trains: data, model and the two target dev accuracies. */
    record Setup(String data, String model, int epochs, double low, double high) {
    }

    static final int WORKERS = 2, BATCH = 64, EVAL_EVERY = 50;
    static final double LR = 0.002;
    static final long SEED = Split.DEFAULT_SEED;

    /**
     * {@code single EPOCHS OUT MODEL DATA LOW HIGH}: the single-JVM baseline into OUT;
     * {@code spark EPOCHS SINGLE_RESULT MODEL DATA LOW HIGH [variants]}: the distributed trainers and the table.
     */
    public static void main(String[] args) throws Exception {
        Setup setup = new Setup(args[4], args[3], Integer.parseInt(args[1]), Double.parseDouble(args[5]), Double.parseDouble(args[6]));
        if (args[0].equals("single")) {
            Row r = singleJvm(setup);
            Files.writeString(Path.of(args[2]), String.join("\t", r.name(), "" + r.examplesPerSecond(), "" + r.toLow(), "" + r.toHigh(), "" + r.bestAcc(), "" + r.bestAt()));
            return;
        }
        String[] f = Files.readString(Path.of(args[2])).split("\t");
        Row single = new Row(f[0], Double.parseDouble(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5]), "-", "-");
        Path work = Files.createTempDirectory("livetrain-bench-");
        List<Row> rows = new ArrayList<>();
        rows.add(single);
        rows.add(spark(setup, "averaging", BYTEPS_DEFAULT, work.resolve("averaging")));
        rows.add(spark(setup, "shared", BYTEPS_DEFAULT, work.resolve("shared")));
        rows.add(spark(setup, "byteps", BYTEPS_DEFAULT, work.resolve("byteps")));
        if (args.length > 7 && args[7].equals("variants")) {
            rows.add(spark(setup, "byteps", new TrainConfig.BytePS(EVAL_EVERY, 0, 262144, Compression.FP16, false, false), work.resolve("fp16")));
            for (int kib : new int[]{64, 1024, 4096}) {
                rows.add(spark(setup, "byteps", new TrainConfig.BytePS(EVAL_EVERY, 0, kib * 1024, Compression.NONE, false, false), work.resolve("p" + kib)));
            }
            rows.add(spark(setup, "byteps", new TrainConfig.BytePS(EVAL_EVERY, WORKERS, 262144, Compression.NONE, false, false), work.resolve("dedicated")));
        }
        table(setup, rows);
        System.exit(0); // a non-daemon thread left by Spark or ND4J would keep the JVM (and the script) waiting
    }

    static final TrainConfig.BytePS BYTEPS_DEFAULT = new TrainConfig.BytePS(EVAL_EVERY, 0, 262144, Compression.NONE, false, false);

    static void table(Setup s, List<Row> rows) {
        System.out.printf(Locale.ROOT, "%n%d epoch(s) of %s, %s, Adam lr %s, global batch %d (%d workers x %d where distributed), %d cores%n",
                s.epochs(), s.data(), s.model(), LR, WORKERS * BATCH, WORKERS, BATCH, Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "| trainer | examples/s (whole run, evaluations included) | time to %s dev | time to %s dev | best dev (at) | push/pull share | bytes pushed+pulled per worker step |%n", s.low(), s.high());
        System.out.println("| --- | --- | --- | --- | --- | --- | --- |");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %.0f | %s | %s | %.4f (%.0f s) | %s | %s |%n", r.name(), r.examplesPerSecond(), t(r.toLow()), t(r.toHigh()), r.bestAcc(), r.bestAt(), r.pushPull(), r.bytesPerStep());
        }
        Row single = rows.get(0), avg = rows.get(1), shared = rows.get(2), bp = rows.get(3);
        Row peer = Double.isNaN(shared.toLow()) || (!Double.isNaN(avg.toLow()) && avg.toLow() < shared.toLow()) ? avg : shared;
        System.out.printf(Locale.ROOT, "%nratios: byteps/best peer (%s) time to %s = %s; byteps/single-JVM examples/s = %.2f; byteps/averaging examples/s = %.2f; byteps/shared examples/s = %.2f%n",
                peer.name(), s.low(), Double.isNaN(bp.toLow()) || Double.isNaN(peer.toLow()) ? "n/a" : String.format(Locale.ROOT, "%.2f", bp.toLow() / peer.toLow()),
                bp.examplesPerSecond() / single.examplesPerSecond(), bp.examplesPerSecond() / avg.examplesPerSecond(), bp.examplesPerSecond() / shared.examplesPerSecond());
    }

    static String t(double s) {
        return Double.isNaN(s) ? "not reached" : String.format(Locale.ROOT, "%.0f s", s);
    }

    /** DL4J fit() in this JVM on batches of the global size, evaluated on the same schedule as byteps. */
    static Row singleJvm(Setup s) {
        // this JVM was started with OMP_NUM_THREADS = all cores (the distributed trainers get one per task)
        int cores = Nd4j.getEnvironment().maxThreads();
        int epochs = s.epochs();
        Dataset data = Dataset.open(s.data(), new Configuration());
        Split split = data.split(SEED);
        List<LabeledImage> train = new ArrayList<>(), dev = new ArrayList<>();
        data.pool().read(split.train()).forEachRemaining(train::add);
        data.pool().read(split.dev()).forEachRemaining(dev::add);
        int classes = data.numClasses();
        DataSet devSet = Batches.toDataSet(dev, classes);
        Network net = Models.create(Models.Kind.parse(s.model()), data.shape(), classes, LR, SEED);
        long start = System.nanoTime(), trainNanos = 0, examples = 0, step = 0;
        double to96 = Double.NaN, to97 = Double.NaN, best = 0, bestAt = 0;
        for (int e = 1; e <= epochs; e++) {
            Collections.shuffle(train, new Random(SEED + e));
            for (int i = 0; i + 1 <= train.size(); i += WORKERS * BATCH) {
                List<LabeledImage> b = train.subList(i, Math.min(train.size(), i + WORKERS * BATCH));
                DataSet ds = Batches.toDataSet(b, classes);
                long t0 = System.nanoTime();
                if (net.isGraph()) net.graph().fit(ds);
                else net.stack().fit(ds);
                trainNanos += System.nanoTime() - t0;
                examples += b.size();
                step++;
                boolean end = i + WORKERS * BATCH >= train.size();
                if (step % EVAL_EVERY == 0 || end) {
                    INDArray out = net.output(devSet.getFeatures());
                    double acc = out.argMax(1).eq(devSet.getLabels().argMax(1)).castTo(DataType.INT).sumNumber().doubleValue() / dev.size();
                    double now = (System.nanoTime() - start) / 1e9;
                    if (acc >= s.low() && Double.isNaN(to96)) to96 = now;
                    if (acc >= s.high() && Double.isNaN(to97)) to97 = now;
                    if (acc > best) {
                        best = acc;
                        bestAt = now;
                    }
                    System.out.printf(Locale.ROOT, "single-JVM fit: epoch %d step %d dev %.4f at %.0f s%n", e, step, acc, now);
                }
            }
        }
        return new Row("single-JVM DL4J fit (batch " + WORKERS * BATCH + ", " + cores + " threads)", examples / ((System.nanoTime() - start) / 1e9), to96, to97, best, bestAt, "-", "-");
    }

    static Row spark(Setup s, String trainer, TrainConfig.BytePS bp, Path ckpt) {
        TrainConfig cfg = new TrainConfig(new TrainConfig.Data(s.data(), null, 0, TrainConfig.Data.DEFAULT_BAD_DATA_LIMIT), new TrainConfig.Model(s.model(), null, null, 0),
                new TrainConfig.Schedule(WORKERS, s.epochs(), BATCH, LR, SEED), TrainerKind.parse(trainer), bp, 5, new TrainConfig.Output(ckpt.toString(), 3), Map.of());
        TrainingJob.run(cfg, TrainingJob.RunRequest.NEW, new Progress(System.out::println));
        List<HistoryEntry> h = CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().history();
        double to96 = Double.NaN, to97 = Double.NaN, best = 0, bestAt = 0, eps = 0, share = 0, bytes = 0;
        for (HistoryEntry n : h) {
            double acc = n.meta().devAccuracy(), at = n.meta().elapsedSeconds();
            if (acc >= s.low() && Double.isNaN(to96)) to96 = at;
            if (acc >= s.high() && Double.isNaN(to97)) to97 = at;
            if (acc > best) {
                best = acc;
                bestAt = at;
            }
            share += n.meta().stat("push_pull_share") == null ? 0 : n.meta().stat("push_pull_share");
            Double pushed = n.meta().stat("bytes_pushed_per_step"), pulled = n.meta().stat("bytes_pulled_per_step");
            bytes += pushed == null ? 0 : pushed + pulled;
        }
        HistoryEntry last = h.get(h.size() - 1);
        eps = last.step() * (double) (WORKERS * BATCH) / last.meta().elapsedSeconds();
        boolean byteps = trainer.equals("byteps");
        return new Row(name(trainer, bp), eps, to96, to97, best, bestAt,
                byteps ? String.format(Locale.ROOT, "%.1f%%", 100 * share / h.size()) : "-",
                byteps ? String.format(Locale.ROOT, "%.2f MB", bytes / h.size() / 1e6) : "-");
    }

    static String name(String trainer, TrainConfig.BytePS bp) {
        if (trainer.equals("averaging")) return "averaging, 2 workers (evaluates per epoch)";
        if (trainer.equals("shared")) return "shared (DL4J gradient sharing), 2 workers (evaluates per epoch)";
        return String.format(Locale.ROOT, "byteps, 2 workers, %s, %d KiB partitions, %s", bp.servers() == 0 ? "2 colocated servers" : bp.servers() + " dedicated servers",
                bp.partitionBytes() / 1024, bp.compress() == Compression.FP16 ? "fp16" : "fp32");
    }
}
