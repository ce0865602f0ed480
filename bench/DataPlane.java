// The data plane side by side in one run: the same Fashion-MNIST images trained from IDX files (local), a
// folder of PNGs (local), the same folder on HDFS, and a Parquet table of them on HDFS (written by Spark's
// binaryFile source), with the same model, seed and settings; examples/s of the first epoch (which reads and
// decodes every file) and of the later ones, dev accuracy, the data check, and the listing of the folder.
// Every source is prepared with the object profile, as Fashion-MNIST's IDX files are.
// Run by bench/data-plane.sh.
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.cli.LiveTrain;
import org.livetrain.data.Dataset;
import org.livetrain.data.FolderPool;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Pool;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imencode;

public class DataPlane {
    static final Pattern EPOCH = Pattern.compile("epoch (\\d+)/\\d+ +step \\d+ +(\\d+) ex/s .*dev acc ([\\d.]+)");
    static final Pattern CHECK = Pattern.compile("data check: .*\\(([\\d.]+) s\\)");

    static final Pattern TRAIN = Pattern.compile("(\\d+) train / ");

    /**
     * A source's figures. {@code firstWithReading}: examples/s of the first epoch counted with the data check,
     * which for a folder or table is the BytePS workers' first pass (reading and decoding every image once).
     */
    record Row(String source, String dataCheck, List<Integer> rates, List<String> devAcc, double wallSeconds, double firstWithReading) {
    }

    /**
     * {@code DataPlane WORK EPOCHS}: writes the sources under WORK, trains from each, prints the table. Ends the JVM
     * itself: Spark's barrier tasks leave a non-daemon timer thread behind in local mode.
     */
    public static void main(String[] args) {
        int code = 0;
        try {
            run(args);
        } catch (Throwable t) {
            t.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    static void run(String[] args) throws Exception {
        Path work = Path.of(args[0]);
        int epochs = Integer.parseInt(args[1]);
        String idx = Dataset.FASHION_DIR;
        Path folder = work.resolve("fashion");
        int files = export(idx, FileSystem.getLocal(new Configuration()).getRaw(), new org.apache.hadoop.fs.Path(folder.toUri()));
        Configuration hconf = new Configuration();
        hconf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, work.resolve("hdfs").toString());
        for (String k : List.of("dfs.namenode.http-address", "dfs.datanode.address", "dfs.datanode.http.address", "dfs.datanode.ipc.address")) hconf.set(k, "127.0.0.1:0");
        MiniDFSCluster hdfs = new MiniDFSCluster.Builder(hconf).numDataNodes(1).build();
        try {
            hdfs.waitActive();
            String base = "hdfs://127.0.0.1:" + hdfs.getNameNodePort();
            Configuration quick = new Configuration();
            quick.setInt("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 5);
            FileSystem dfs = FileSystem.newInstance(java.net.URI.create(base), quick);
            long t0 = System.nanoTime();
            export(idx, dfs, new org.apache.hadoop.fs.Path(base + "/fashion"));
            System.out.printf(Locale.ROOT, "wrote %d PNG files to HDFS in %.0f s%n", files, (System.nanoTime() - t0) / 1e9);
            writeTable(folder, base + "/fashion.parquet");

            String[] listing = {listing("folder:" + folder), listing("folder:" + base + "/fashion")};
            List<Row> rows = new ArrayList<>();
            rows.add(train("IDX files, local disk", "idx:" + idx, work, epochs));
            rows.add(train("folder of PNGs, local disk", "folder:" + folder, work, epochs));
            rows.add(train("folder of PNGs, HDFS", "folder:" + base + "/fashion", work, epochs));
            rows.add(train("Parquet (binaryFile + label), HDFS", "parquet:" + base + "/fashion.parquet", work, epochs));
            print(rows, files, listing);
        } finally {
            hdfs.shutdown();
        }
    }

    /** The training and test images of Fashion-MNIST as {@code ROOT/<label>/<train|test>-<index>.png}, 16 files at a time. */
    static int export(String idxDir, FileSystem fs, org.apache.hadoop.fs.Path root) throws Exception {
        Dataset d = Dataset.open("idx:" + idxDir, new Configuration());
        ExecutorService writers = Executors.newFixedThreadPool(16);
        List<Future<?>> written = new ArrayList<>();
        try {
            for (Pool pool : List.of(d.pool(), d.testPool())) {
                String part = pool == d.pool() ? "train" : "test";
                int[] all = new int[pool.size()];
                for (int i = 0; i < all.length; i++) all[i] = i;
                for (Iterator<LabeledImage> it = pool.withContract(d.contract().withNormalisation(new float[]{0}, new float[]{1})).read(all); it.hasNext(); ) {
                    LabeledImage e = it.next();
                    byte[] png = png(e.pixels());
                    written.add(writers.submit(() -> {
                        try (FSDataOutputStream out = fs.create(new org.apache.hadoop.fs.Path(root, e.label() + "/" + part + "-" + e.index() + ".png"))) {
                            out.write(png);
                        }
                        return null;
                    }));
                }
            }
            for (Future<?> f : written) f.get();
        } finally {
            writers.shutdownNow();
        }
        return written.size();
    }

    static byte[] png(float[] pixels) {
        Mat m = new Mat(28, 28, CV_8UC1);
        try (UByteIndexer ix = m.createIndexer()) {
            for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.max(0, Math.min(255, Math.round(pixels[p] * 255))));
        }
        try (BytePointer buf = new BytePointer()) {
            imencode(".png", m, buf);
            byte[] b = new byte[(int) buf.limit()];
            buf.get(b);
            return b;
        }
    }

    /** A table as a Spark user makes one from a folder of images. */
    static void writeTable(Path folder, String table) {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("write-table").config("spark.ui.enabled", "false").getOrCreate();
        try {
            spark.read().format("binaryFile").option("recursiveFileLookup", "true").load(folder.toString())
                    .withColumn("label", functions.regexp_extract(functions.col("path"), "/(\\d)/[^/]+$", 1))
                    .write().parquet(table);
        } finally {
            spark.stop();
        }
    }

    /** How long the driver takes to list the folder (three times, the best). */
    static String listing(String spec) {
        double best = Double.MAX_VALUE;
        int n = 0;
        for (int i = 0; i < 3; i++) {
            long t = System.nanoTime();
            n = FolderPool.open(spec.substring(7), new Configuration()).size();
            best = Math.min(best, (System.nanoTime() - t) / 1e9);
        }
        return String.format(Locale.ROOT, "%s: %d files in %.2f s", spec, n, best);
    }

    static Row train(String name, String spec, Path work, int epochs) throws Exception {
        Path ckpt = Files.createTempDirectory(work, "ckpt-");
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        long t = System.nanoTime();
        int code = LiveTrain.execute(new String[]{"train", "--data", spec, "--input-profile", "object", "--epochs", "" + epochs,
                "--eval-every", "1000000", "--checkpoint-dir", ckpt.toString()},
                new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        double wall = (System.nanoTime() - t) / 1e9;
        String text = out.toString(StandardCharsets.UTF_8);
        System.out.println("--- " + name + "\n" + text + err.toString(StandardCharsets.UTF_8));
        if (code != 0) throw new IllegalStateException(name + ": exit " + code);
        List<Integer> rates = new ArrayList<>();
        List<String> acc = new ArrayList<>();
        for (Matcher m = EPOCH.matcher(text); m.find(); ) {
            rates.add(Integer.parseInt(m.group(2)));
            acc.add(m.group(3));
        }
        Matcher c = CHECK.matcher(text), n = TRAIN.matcher(text);
        double check = c.find() ? Double.parseDouble(c.group(1)) : 0;
        int trainN = n.find() ? Integer.parseInt(n.group(1)) : 0;
        int perEpoch = trainN / 2 / 64 * 64 * 2; // what 2 workers step through in full batches of 64, near enough
        double firstWithReading = perEpoch / (check + (double) perEpoch / rates.get(0));
        return new Row(name, check > 0 ? c.group(1) + " s" : "-", rates, acc, wall, firstWithReading);
    }

    static void print(List<Row> rows, int files, String[] listing) {
        double idxFirst = rows.get(0).rates().get(0), idxLater = later(rows.get(0));
        double localFirst = rows.get(1).firstWithReading();
        StringBuilder b = new StringBuilder();
        b.append("| source | data check (first pass) | epoch 1 ex/s | epoch 1 with the check ex/s | later epochs ex/s | later vs IDX | epoch 1 with the check vs local folder | dev acc per epoch | wall |\n");
        b.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for (Row r : rows) {
            double first = r.firstWithReading(), later = later(r);
            b.append(String.format(Locale.ROOT, "| %s | %s | %d | %.0f | %.0f | %.2fx | %s | %s | %.0f s |%n", r.source(), r.dataCheck(), r.rates().get(0), first, later,
                    later / idxLater, r.source().startsWith("IDX") ? "-" : String.format(Locale.ROOT, "%.2fx", first / localFirst), String.join(", ", r.devAcc()), r.wallSeconds()));
        }
        b.append(String.format(Locale.ROOT, "%nlisting (%d files; best of 3): %s; %s%n", files, listing[0], listing[1]));
        System.out.println(b);
    }

    /** The mean rate of the epochs after the first. */
    static double later(Row r) {
        return r.rates().subList(1, r.rates().size()).stream().mapToInt(Integer::intValue).average().orElse(Double.NaN);
    }
}
