// Latency of the terminal reader from a request line to its printed answer, with the model loaded.
// Run by bench/terminal-latency.sh (single-file source launch on the application's classpath).
import org.apache.hadoop.conf.Configuration;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.serving.ImageLimits;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.terminal.PipedPrompt;
import org.livetrain.terminal.ReaderSettings;
import org.livetrain.terminal.TerminalReader;
import org.livetrain.terminal.TerminalSession;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;

public class TerminalLatency {
    public static void main(String[] args) throws Exception {
        String ckpt = args[0];
        Path demo = Path.of(args[1]);
        int warmup = Integer.parseInt(args[2]), n = Integer.parseInt(args[3]);
        Path small = Files.createTempFile("digit-", ".png");
        Dataset digits = Dataset.open("digits", new Configuration());
        int testIndex = digits.split(Split.DEFAULT_SEED).test()[0];
        LabeledImage e = digits.pool().read(new int[]{testIndex}).next();
        Mat m = new Mat(28, 28, CV_8UC1);
        try (UByteIndexer ix = m.createIndexer()) {
            for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(e.pixels()[p] * 255));
        }
        imwrite(small.toString(), m);

        PipedOutputStream feed = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(feed, 1 << 16);
        BlockingQueue<Long> answers = new LinkedBlockingQueue<>();
        OutputStream lines = new OutputStream() { // stamps the moment each answer line is complete
            final ByteArrayOutputStream buf = new ByteArrayOutputStream();
            @Override public void write(int b) {
                if (b == '\n') {
                    String line = buf.toString(StandardCharsets.UTF_8).replace(TerminalReader.PROMPT, "");
                    buf.reset();
                    if (line.startsWith("Prediction:") || line.startsWith("Error:")) answers.add(System.nanoTime());
                    if (line.startsWith("Error:")) System.err.println(line);
                } else buf.write(b);
            }
        };
        PrintStream out = new PrintStream(lines, true, StandardCharsets.UTF_8);
        try (TerminalSession s = new TerminalSession(new CheckpointLocation(ckpt, new Configuration()),
                new ReaderSettings(Duration.ofSeconds(1), ImageLimits.DEFAULT, List.of(), false, null, false), () -> "no model", new PipedPrompt(in, out, System.err, false))) {
            Thread reader = new Thread(() -> { try { s.run(); } catch (Exception x) { throw new RuntimeException(x); } });
            reader.start();
            System.out.printf("model: step %d, dev accuracy %.4f; %d warm-up and %d timed requests per image%n",
                    s.models().current().orElseThrow().step(), s.models().current().orElseThrow().devAccuracy(), warmup, n);
            double[] a = measure(feed, answers, small, warmup, n);
            double[] b = measure(feed, answers, demo, warmup, n);
            System.out.printf("28x28 PNG (%d bytes):          p50 %.2f ms  p99 %.2f ms%n", Files.size(small), a[0], a[1]);
            System.out.printf("demo image 1490x1480 RGBA (%d bytes): p50 %.2f ms  p99 %.2f ms%n", Files.size(demo), b[0], b[1]);
            System.out.printf("ratio demo/28x28 at p50: %.1fx%n", b[0] / a[0]);
            feed.write("q\n".getBytes(StandardCharsets.UTF_8));
            feed.flush();
            reader.join(10_000);
        }
        Files.deleteIfExists(small);
    }

    static double[] measure(PipedOutputStream feed, BlockingQueue<Long> answers, Path image, int warmup, int n) throws Exception {
        double[] ms = new double[n];
        byte[] line = (image + "\n").getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < warmup + n; i++) {
            long t0 = System.nanoTime();
            feed.write(line);
            feed.flush();
            Long t1 = answers.poll(30, TimeUnit.SECONDS);
            if (t1 == null) throw new IllegalStateException("no answer within 30 s");
            if (i >= warmup) ms[i - warmup] = (t1 - t0) / 1e6;
        }
        Arrays.sort(ms);
        return new double[]{ms[n / 2], ms[(int) Math.ceil(n * 0.99) - 1]};
    }
}
