// score side by side in one run: the 10,000 bundled digits as PNG files, scored by a plain loop in this JVM
// (read, decode and prepare by the model's contract, forward in batches of 64, on 2 threads), by
// `./submit.sh score` over the folder on local disk, and by `score` over the same folder on HDFS (an
// in-process NameNode and DataNode on 127.0.0.1). The model: 1 epoch of LeNet on the digits.
// Run by bench/score.sh.
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.cli.LiveTrain;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.serving.LoadedModel;
import org.livetrain.store.CheckpointStore;

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
import java.util.stream.Stream;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imencode;

public class ScoreBench {
    static final Pattern RATE = Pattern.compile("scored (\\d+) images \\((\\d+) errors\\) .* in ([\\d.]+) s \\((\\d+) images/s\\)");

    /** {@code ScoreBench WORK}: ends the JVM itself (Spark leaves non-daemon threads behind in local mode). */
    public static void main(String[] args) {
        int code = 0;
        try {
            run(Path.of(args[0]));
        } catch (Throwable t) {
            t.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    static void run(Path work) throws Exception {
        String ckpt = work.resolve("ckpt").toString();
        cli("train", "--epochs", "1", "--checkpoint-dir", ckpt);
        Path folder = work.resolve("digits");
        int files = export(FileSystem.getLocal(new Configuration()).getRaw(), new org.apache.hadoop.fs.Path(folder.toUri()));
        Configuration hconf = new Configuration();
        hconf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, work.resolve("hdfs").toString());
        for (String k : List.of("dfs.namenode.http-address", "dfs.datanode.address", "dfs.datanode.http.address", "dfs.datanode.ipc.address")) hconf.set(k, "127.0.0.1:0");
        MiniDFSCluster hdfs = new MiniDFSCluster.Builder(hconf).numDataNodes(1).build();
        try {
            hdfs.waitActive();
            String base = "hdfs://127.0.0.1:" + hdfs.getNameNodePort();
            Configuration quick = new Configuration();
            quick.setInt("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 5);
            export(FileSystem.newInstance(java.net.URI.create(base), quick), new org.apache.hadoop.fs.Path(base + "/digits"));
            double plain = 0;
            for (int i = 0; i < 3; i++) plain = Math.max(plain, plainLoop(ckpt, folder)); // the best of 3: the JIT warm
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[]{"plain loop, 2 threads, local files", String.format(Locale.ROOT, "%.0f", plain), "1.00x", "-"});
            for (String[] source : List.of(new String[]{"score, local folder", "folder:" + folder}, new String[]{"score, HDFS folder", "folder:" + base + "/digits"})) {
                for (int run = 1; run <= 2; run++) {
                    long t = System.nanoTime();
                    String out = cli("score", "--checkpoint-dir", ckpt, "--input", source[1], "--output", work.resolve("out-" + rows.size() + "-" + run).toString());
                    double wall = (System.nanoTime() - t) / 1e9;
                    Matcher m = RATE.matcher(out);
                    if (!m.find() || Integer.parseInt(m.group(1)) != files) throw new IllegalStateException("unexpected: " + out);
                    double rate = Integer.parseInt(m.group(4));
                    rows.add(new String[]{source[0] + " (run " + run + ")", String.format(Locale.ROOT, "%.0f", rate), String.format(Locale.ROOT, "%.2fx", rate / plain),
                            String.format(Locale.ROOT, "%.1f s of %.1f s", Double.parseDouble(m.group(3)), wall)});
                }
            }
            StringBuilder b = new StringBuilder("| scorer | images/s | vs plain loop | scoring time of the whole command |\n| --- | --- | --- | --- |\n");
            for (String[] r : rows) b.append("| ").append(String.join(" | ", r)).append(" |\n");
            System.out.println(b);
        } finally {
            hdfs.shutdown();
        }
    }

    /** What the work costs without Spark: read, decode, prepare, forward in batches of 64, the files split over 2 threads. */
    static double plainLoop(String ckpt, Path folder) throws Exception {
        CheckpointStore store = CheckpointStore.open(ckpt, new Configuration());
        LoadedModel model = new LoadedModel(store.load(store.best().orElseThrow(), false));
        List<Path> all;
        try (Stream<Path> s = Files.walk(folder)) {
            all = s.filter(p -> p.toString().endsWith(".png")).sorted().toList();
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long t = System.nanoTime();
        List<Future<Integer>> done = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            List<Path> mine = all.subList(w * all.size() / 2, (w + 1) * all.size() / 2);
            done.add(pool.submit(() -> {
                ImagePreprocessor pre = new ImagePreprocessor(model.input(), ImagePreprocessor.DEFAULT_MAX_PIXELS);
                int scored = 0;
                for (int from = 0; from < mine.size(); from += 64) {
                    List<float[]> batch = new ArrayList<>();
                    for (Path p : mine.subList(from, Math.min(mine.size(), from + 64))) batch.add(pre.bytes(Files.readAllBytes(p), p.toString()));
                    scored += model.probabilities(batch).size();
                }
                return scored;
            }));
        }
        int n = 0;
        for (Future<Integer> f : done) n += f.get();
        pool.shutdown();
        double rate = n / ((System.nanoTime() - t) / 1e9);
        System.out.printf(Locale.ROOT, "plain loop: %d images, %.0f images/s%n", n, rate);
        return rate;
    }

    static String cli(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = LiveTrain.execute(args, new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = out.toString(StandardCharsets.UTF_8);
        System.out.println("--- " + String.join(" ", args) + "\n" + text + err.toString(StandardCharsets.UTF_8));
        if (code != 0) throw new IllegalStateException(args[0] + ": exit " + code);
        return text;
    }

    /** The 10,000 bundled digits as {@code ROOT/<label>/<index>.png}, 16 files at a time. */
    static int export(FileSystem fs, org.apache.hadoop.fs.Path root) throws Exception {
        Dataset d = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] all = new int[d.pool().size()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        ExecutorService writers = Executors.newFixedThreadPool(16);
        List<Future<?>> written = new ArrayList<>();
        try {
            for (Iterator<LabeledImage> it = d.pool().read(all); it.hasNext(); ) {
                LabeledImage e = it.next();
                byte[] png = png(e.pixels());
                written.add(writers.submit(() -> {
                    try (FSDataOutputStream out = fs.create(new org.apache.hadoop.fs.Path(root, e.label() + "/" + e.index() + ".png"))) {
                        out.write(png);
                    }
                    return null;
                }));
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
}
