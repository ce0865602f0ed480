package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.cli.LiveTrain;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Position;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `report` from a recorded run (a history written by a real run) and from a run that is still training. */
@Tag("slow")
class ReportTest {
    static final List<String> CHARTS = List.of("dev-accuracy-by-step.png", "dev-accuracy-by-time.png", "loss.png", "throughput.png", "push-pull-share.png");

    @TempDir
    Path dir;

    static String checkReport(Path out) throws Exception {
        String html = Files.readString(out.resolve("index.html"));
        for (String chart : CHARTS) {
            BufferedImage img = ImageIO.read(out.resolve(chart).toFile());
            assertNotNull(img, chart + " decodes as an image");
            assertEquals(900, img.getWidth(), chart);
            assertTrue(html.contains("href=\"" + chart + "\""), "the page links " + chart);
        }
        assertEquals(CHARTS.size(), html.split("data:image/png;base64,", -1).length - 1, "every chart embedded in the page");
        return html;
    }

    static int evaluations(String html) {
        Matcher m = Pattern.compile("(\\d+) evaluation\\(s\\)").matcher(html);
        assertTrue(m.find(), html);
        return Integer.parseInt(m.group(1));
    }

    @Test
    void aRecordedRunGivesChartsAndAPage() throws Exception {
        Path run = Files.createDirectories(dir.resolve("run"));
        Path fixture = Path.of(System.getProperty("livetrain.repo", "..")).resolve("jobs/src/test/resources/fixtures/byteps-run/history.jsonl");
        Files.copy(fixture, run.resolve("history.jsonl"));
        Path out = dir.resolve("report");
        Cli r = Cli.run("report", "--checkpoint-dir", run.toString(), "--out", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("report of " + run + " (1 run(s)): 5 chart(s) and " + out.resolve("index.html").toAbsolutePath()), r.out());
        String html = checkReport(out);
        assertEquals(Files.readAllLines(fixture).size(), evaluations(html));
        // a directory of the layout before runs is read as one run
        assertTrue(html.contains("<td>(earlier layout)</td><td>earlier</td><td>byteps</td><td>digits</td><td>lenet</td>"), html);
        assertTrue(html.contains("(earlier layout): byteps lenet (" + evaluations(html) + ")"), html);
    }

    @Test
    void aRunThatIsStillTrainingAndAMissingHistory() throws Exception {
        Path run = dir.resolve("live");
        AtomicReference<Cli> training = new AtomicReference<>();
        Thread t = new Thread(() -> training.set(Cli.run("train", "--epochs", "2", "--eval-every", "20", "--checkpoint-dir", run.toString())));
        t.start();
        var store = CheckpointStore.open(run.toString(), new Configuration());
        long end = System.nanoTime() + 300_000_000_000L;
        while ((store.runs().isEmpty() || store.runs().get(0).history().size() < 2) && System.nanoTime() < end) Thread.sleep(100);
        String id = store.runs().get(0).id();
        Path history = run.resolve("runs").resolve(id).resolve("history.jsonl");
        Cli during = Cli.run("report", "--checkpoint-dir", run.toString(), "--out", dir.resolve("during").toString());
        Cli statusDuring = Cli.withInput("status\nq\n", "terminal", "--checkpoint-dir", run.toString());
        t.join();
        assertEquals(0, during.exitCode(), during.err());
        assertEquals(0, training.get().exitCode(), training.get().err());
        int seenDuring = evaluations(checkReport(dir.resolve("during")));
        Cli after = Cli.run("report", "--checkpoint-dir", run.toString(), "--out", dir.resolve("after").toString());
        assertEquals(0, after.exitCode(), after.err());
        int seenAfter = evaluations(checkReport(dir.resolve("after")));
        assertTrue(seenDuring >= 2 && seenDuring < seenAfter, "during " + seenDuring + ", after " + seenAfter);
        assertEquals(Files.readAllLines(history).size(), seenAfter);

        // the prompt's status command, from the run's files: while the run trains, and once it has ended
        assertEquals(0, statusDuring.exitCode(), statusDuring.err());
        assertTrue(Pattern.compile("Status: run " + id + " \\(running\\): (step \\d+ of 126 \\(epoch [12]/2\\), [\\d.]+ steps/s, as of \\S+; )?"
                + "last evaluation: step \\d+, dev accuracy 0\\.\\d+, \\d+ ex/s; best checkpoint: step \\d+ of run " + id + ", dev accuracy 0\\.\\d+; "
                + "answering with step \\d+ of run " + id).matcher(statusDuring.out()).find(), statusDuring.out());
        Cli status = Cli.withInput("status\nq\n", "terminal", "--checkpoint-dir", run.toString());
        assertEquals(0, status.exitCode(), status.err());
        assertTrue(Pattern.compile("Status: run " + id + " \\(finished, test accuracy 0\\.\\d+\\): last evaluation: step 126, dev accuracy 0\\.\\d+, \\d+ ex/s; "
                + "best checkpoint: step \\d+ of run " + id + ", dev accuracy 0\\.\\d+; answering with step \\d+ of run " + id).matcher(status.out()).find(), status.out());
        Position last = CheckpointStore.open(run.toString(), new Configuration()).newestRun().orElseThrow().progress().orElseThrow();
        assertEquals("finished", last.state(), "progress.json says how the run ended");
        assertEquals(126, last.step());

        Cli none = Cli.run("report", "--checkpoint-dir", dir.resolve("nothing").toString(), "--out", dir.resolve("x").toString());
        assertEquals(2, none.exitCode());
        assertEquals(1, none.err().strip().lines().count(), none.err());
        assertTrue(none.err().contains("no evaluations recorded yet"), none.err());
    }

    @Test
    void theScorersFiguresReachItsSummaryLinesAndTheReport() throws Exception {
        Path run = dir.resolve("served");
        Cli trained = Cli.run("train", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", run.toString());
        assertEquals(0, trained.exitCode(), trained.err());
        Path seven = Path.of(System.getProperty("livetrain.repo", "..")).resolve("data/demo/seven.png").toAbsolutePath();
        LocalKafkaBroker broker = SharedBroker.get();
        ByteArrayOutputStream streamOut = new ByteArrayOutputStream();
        Thread stream = new Thread(() -> LiveTrain.execute(new String[]{"stream", "--bootstrap-servers", broker.bootstrapServers(),
                "--checkpoint-dir", run.toString(), "--allowed-roots", seven.getParent().toString(), "--stats-every", "1"},
                new ByteArrayInputStream(new byte[0]), new PrintStream(streamOut, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
        stream.start();
        try (var p = new KafkaProducer<String, String>(Map.of("bootstrap.servers", broker.bootstrapServers()),
                new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < 30; i++) p.send(new ProducerRecord<>("image-paths", "s-" + i, seven.toString()));
            p.send(new ProducerRecord<>("image-paths", "bad", "/nowhere.png"));
        }
        var store = CheckpointStore.open(run.toString(), new Configuration());
        long end = System.nanoTime() + 120_000_000_000L;
        while (store.servingStats().stream().mapToLong(n -> n.path("requests").asLong()).sum() < 31 && System.nanoTime() < end) Thread.sleep(200);
        stream.interrupt();
        stream.join(60_000);
        String said = streamOut.toString(StandardCharsets.UTF_8);
        assertEquals(31, store.servingStats().stream().mapToLong(n -> n.path("requests").asLong()).sum(), said);
        assertEquals(1, store.servingStats().stream().mapToLong(n -> n.path("errors").asLong()).sum(), said);
        assertTrue(Pattern.compile("scorer: \\d+ requests \\(\\d+ errors\\) in 1 s = [\\d.]+/s; latency p50 \\d+ ms, p99 \\d+ ms; model step 63").matcher(said).find(), said);
        Path out = dir.resolve("served-report");
        Cli r = Cli.run("report", "--checkpoint-dir", run.toString(), "--out", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        String html = Files.readString(out.resolve("index.html"));
        for (String chart : List.of("latency.png", "serving-throughput.png")) {
            assertNotNull(ImageIO.read(out.resolve(chart).toFile()), chart);
            assertTrue(html.contains("href=\"" + chart + "\""), chart);
        }
        assertTrue(Pattern.compile("Serving figures: \\d+ interval\\(s\\), 31 requests \\(1 errors\\), latency p50 \\d+ ms, p99 \\d+ ms").matcher(html).find(), html);
    }
}
