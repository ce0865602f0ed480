// A scripted client for the prompt: starts a command (./submit.sh terminal ... or ./submit.sh train --live
// ...), waits for its first answer-ready line, then writes image paths to its standard input at a fixed
// rate, as someone typing or a script piping would, and times each answer (the line after the request,
// answers come in order). Every other line of the command (training progress) is copied to the log file.
//   java PacedFeed.java RATE SECONDS|until:TEXT PATHS_FILE LOG -- COMMAND...
// SECONDS: feed that long, then send q. until:TEXT: feed until a line containing TEXT appears (for
// train --live: "training finished"), then send q. Prints: sent, answered, p50, p99, max (ms), over the
// requests sent after the first -Dskip=SECONDS (default 0: all).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

public class PacedFeed {
    static volatile long SKIP_UNTIL;
    static final String PROMPT = "Live Inference (Path to Local Image File or q to quit): ";

    public static void main(String[] a) throws Exception {
        double rate = Double.parseDouble(a[0]);
        String stop = a[1];
        List<String> paths = Files.readAllLines(Path.of(a[2]));
        Path log = Path.of(a[3]);
        List<String> command = Arrays.asList(a).subList(Arrays.asList(a).indexOf("--") + 1, a.length);
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(log.resolveSibling(log.getFileName() + ".err").toFile())).start();
        ConcurrentLinkedQueue<Long> sent = new ConcurrentLinkedQueue<>();
        List<Long> latencies = new ArrayList<>();
        CountDownLatch ready = new CountDownLatch(1);
        AtomicBoolean done = new AtomicBoolean();
        Thread reader = new Thread(() -> read(p, log, sent, latencies, ready, stop, done));
        reader.start();
        ready.await();
        long start = System.nanoTime(), n = 0;
        SKIP_UNTIL = start + Long.getLong("skip", 0) * 1_000_000_000L;
        try (Writer w = new PrintWriter(new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8))) {
            while (stop.startsWith("until:") ? !done.get() : System.nanoTime() - start < Double.parseDouble(stop) * 1e9) {
                long due = start + (long) (n * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                sent.add(System.nanoTime());
                w.write(paths.get((int) (n++ % paths.size())) + "\n");
                w.flush();
            }
            Thread.sleep(3000); // the last answers
            w.write("q\n");
        }
        p.waitFor();
        reader.join();
        report(n, latencies);
    }

    /** Answers are timed against the oldest request not yet answered; everything else goes to the log. */
    private static void read(Process p, Path log, ConcurrentLinkedQueue<Long> sent, List<Long> latencies, CountDownLatch ready,
                             String stop, AtomicBoolean done) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(Files.newBufferedWriter(log))) {
            String line;
            while ((line = r.readLine()) != null) {
                long now = System.nanoTime();
                String text = line.replace(PROMPT, "");
                if (text.startsWith("Prediction:") || text.startsWith("Error:")) {
                    Long t = sent.poll();
                    if (t != null && t >= SKIP_UNTIL) synchronized (latencies) { latencies.add(now - t); }
                    if (text.startsWith("Error:")) out.println(text);
                } else if (!text.isBlank()) {
                    out.println(text);
                    out.flush();
                }
                if (text.startsWith("Serving the best model") || text.startsWith("No model yet")) ready.countDown();
                if (stop.startsWith("until:") && text.contains(stop.substring(6))) done.set(true);
            }
        } catch (Exception e) {
            throw new RuntimeException(e);
        } finally {
            ready.countDown();
        }
    }

    private static void report(long n, List<Long> latencies) {
        long[] l;
        synchronized (latencies) { l = latencies.stream().mapToLong(Long::longValue).sorted().toArray(); }
        if (l.length == 0) {
            System.out.printf(Locale.ROOT, "sent %d, answered 0%n", n);
            return;
        }
        System.out.printf(Locale.ROOT, "sent %d, answered %d, p50 %.0f ms, p99 %.0f ms, max %.0f ms%n", n, l.length,
                l[l.length / 2] / 1e6, l[(int) Math.min(l.length - 1, Math.ceil(l.length * 0.99) - 1)] / 1e6, l[l.length - 1] / 1e6);
    }
}
