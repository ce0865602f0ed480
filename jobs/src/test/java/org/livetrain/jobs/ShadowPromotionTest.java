package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.image.InputContract;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.Promotion;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunStore;
import org.livetrain.terminal.PipedPrompt;
import org.livetrain.terminal.ReaderSettings;
import org.livetrain.terminal.TerminalSession;
import org.livetrain.store.CheckpointLocation;

import javax.imageio.ImageIO;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shadow promotion with real models on real digit files: a model trained a little serves; a broken candidate
 * (the same network with one class's output bias raised, so that every input is that class, published with
 * a better dev accuracy) is refused while the serving model keeps answering; a model trained longer is
 * promoted within its window and answers from then on. Through the prompt (in this JVM) and the Kafka scorer
 * (`stream`, a child JVM, with a real broker).
 */
@Tag("slow")
class ShadowPromotionTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    static LocalKafkaBroker broker;
    static InputContract contract;
    static Network early, broken, better;
    static List<String> files = new ArrayList<>();

    @BeforeAll
    static void setUp() throws Exception {
        broker = new LocalKafkaBroker(0, dir.resolve("kafka"));
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration()).prepared(null, 0);
        contract = digits.contract();
        List<LabeledImage> train = read(digits, 0, 3000), requests = read(digits, 3000, 400);
        early = Models.create(Models.Kind.MLP, contract.shape(), 10, 1e-3, 1);
        fit(early, train.subList(0, 300), 3);
        broken = early.copy();
        broken.stack().getOutputLayer().getParam("b").putScalar(3, 1000.0); // every input: class 3, with confidence 1
        better = early.copy();
        fit(better, train, 15);
        Path images = Files.createDirectories(dir.resolve("images"));
        for (LabeledImage e : requests) {
            Path f = images.resolve(e.index() + ".png");
            Mat m = new Mat(28, 28, CV_8UC1);
            try (UByteIndexer ix = m.createIndexer()) {
                for (int p = 0; p < 28 * 28; p++) ix.put(p / 28, p % 28, Math.round(e.pixels()[p] * 255));
            }
            assertTrue(imwrite(f.toString(), m));
            files.add(f.toString());
        }
    }

    @AfterAll
    static void tearDown() {
        broker.close();
    }

    static List<LabeledImage> read(Dataset d, int from, int n) {
        List<LabeledImage> out = new ArrayList<>();
        for (Iterator<LabeledImage> it = d.pool().read(IntStream.range(from, from + n).toArray()); it.hasNext(); ) out.add(it.next());
        return out;
    }

    static void fit(Network net, List<LabeledImage> examples, int epochs) {
        for (int e = 0; e < epochs; e++) {
            for (int i = 0; i < examples.size(); i += 50) net.stack().fit(Batches.toDataSet(examples.subList(i, Math.min(examples.size(), i + 50)), 10));
        }
    }

    static String publish(RunStore run, Network net, long step, double devAccuracy) {
        return run.publish(net, contract, CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, 1, devAccuracy, 0.5, 0.5),
                new CheckpointMeta.Origin("test", 1, "digits", "mlp", null), new CheckpointMeta.Timing(1, 1), Map.of())).pointer().sha256();
    }

    static RunStore run(Path ckpt) {
        return CheckpointStore.create(ckpt.toString(), new Configuration()).newRun(null, Map.of("trainer", "test", "data", "digits", "model", "mlp"), null, 5, null);
    }

    /** The decisions recorded in serving-stats.jsonl, oldest first. */
    static List<JsonNode> decisions(Path ckpt) {
        return CheckpointStore.open(ckpt.toString(), new Configuration()).servingStats().stream().filter(n -> n.has("event")).toList();
    }

    static ChildJvm scorer(String name, Path ckpt) throws IOException {
        return ChildJvm.start(dir.resolve("logs"), name, List.of(), "stream", "--bootstrap-servers", broker.bootstrapServers(),
                "--input-topic", "shadow-in", "--output-topic", "shadow-out", "--checkpoint-dir", ckpt.toString(),
                "--query-checkpoint", dir.resolve("shadow-query").toString(), "--allowed-roots", dir.resolve("images").toString(),
                "--shadow-requests", "100", "--stats-every", "2");
    }

    @Test
    void theKafkaScorerRefusesABrokenCandidateAndPromotesABetterOne() throws Exception {
        Path ckpt = dir.resolve("ckpt-kafka");
        RunStore run = run(ckpt);
        String s1 = publish(run, early, 100, 0.80);
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()), new StringSerializer(), new StringSerializer());
             CommittedAnswers answers = new CommittedAnswers(broker.bootstrapServers(), "shadow-out")) {
            try (ChildJvm scorer = scorer("shadow-scorer", ckpt)) {
                List<String> before = push(p, "a", 0, 40);
                assertTrue(answers.awaitAll(before, Duration.ofMinutes(3)), "answered: " + scorer.output());
                for (String id : before) assertEquals(s1, answers.first(id).get("model_sha256").asText());

                String s2 = publish(run, broken, 200, 0.85);
                List<String> during = pushUntilDecided(p, ckpt, 1, "b", answers, scorer);
                JsonNode refused = decisions(ckpt).get(0);
                assertEquals("refused", refused.get("event").asText(), refused.toString());
                assertEquals(s2, refused.at("/candidate/sha256").asText());
                assertTrue(refused.get("reason").asText().startsWith("collapsed onto class 3"), refused.toString());
                assertTrue(refused.get("requests").asLong() >= 100, refused.toString());
                int shadowed = 0;
                for (String id : during) { // the serving model kept answering; the candidate's answers rode beside its own
                    JsonNode a = answers.first(id);
                    assertEquals(s1, a.get("model_sha256").asText(), a.toString());
                    if (a.get("shadow").isNull()) continue;
                    shadowed++;
                    assertEquals(s2, a.at("/shadow/model_sha256").asText());
                    assertEquals("3", a.at("/shadow/prediction").asText());
                }
                assertTrue(shadowed >= 100, shadowed + " answers carry the candidate's");
                assertTrue(scorer.output().contains("refused candidate step 200"), scorer.output());
                scorer.kill();
            }
            // started again, the scorer serves what it promoted, not the refused checkpoint best.json still names
            try (ChildJvm scorer = scorer("shadow-scorer-again", ckpt)) {
                List<String> again = push(p, "e", 0, 40);
                assertTrue(answers.awaitAll(again, Duration.ofMinutes(3)), "answered: " + scorer.output());
                for (String id : again) {
                    assertEquals(s1, answers.first(id).get("model_sha256").asText());
                    assertTrue(answers.first(id).get("shadow").isNull(), "the refused candidate is not tried again");
                }
                assertTrue(scorer.output().contains("serving step 100 of run " + run.id() + " as promoted before"), scorer.output());

                String s3 = publish(run, better, 300, 0.90);
                pushUntilDecided(p, ckpt, 2, "c", answers, scorer);
                JsonNode promoted = decisions(ckpt).get(1);
                decisions(ckpt).forEach(d -> System.out.println("[shadow] Kafka scorer: " + d.get("event").asText() + " " + d.at("/candidate/step") + ": " + d.get("reason").asText()));
                assertEquals("promoted", promoted.get("event").asText(), promoted.toString());
                assertEquals(s3, promoted.at("/candidate/sha256").asText());
                assertEquals(s1, promoted.at("/serving/sha256").asText());
                List<String> after = push(p, "d", 0, 40);
                assertTrue(answers.awaitAll(after, Duration.ofMinutes(2)), "answered: " + scorer.output());
                for (String id : after) { // the new model answers, nothing is shadowed
                    assertEquals(s3, answers.first(id).get("model_sha256").asText());
                    assertTrue(answers.first(id).get("shadow").isNull());
                }
            }
            List<String> all = answers.byId.keySet().stream().toList();
            assertEquals(0, answers.duplicates(all), "each request answered once");
        }
        Path out = dir.resolve("report");
        Cli report = Cli.run("report", "--checkpoint-dir", ckpt.toString(), "--out", out.toString());
        assertEquals(0, report.exitCode(), report.err());
        assertNotNull(ImageIO.read(out.resolve("model-timeline.png").toFile()), "the model timeline is drawn");
        String html = Files.readString(out.resolve("index.html"));
        assertTrue(html.contains("Shadow promotion: 2 candidate(s) decided") && html.contains("refused step 200 (serving step 100")
                && html.contains("promoted step 300 (serving step 100"), html);
    }

    /** Pushes 20 requests at a time until serving-stats.jsonl holds {@code decisions} decisions, every request answered; the ids. */
    static List<String> pushUntilDecided(KafkaProducer<String, String> p, Path ckpt, int decisions, String prefix, CommittedAnswers answers, ChildJvm scorer)
            throws Exception {
        List<String> ids = new ArrayList<>();
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (decisions(ckpt).size() < decisions) {
            assertTrue(System.nanoTime() < end, "no decision: " + scorer.output());
            List<String> round = push(p, prefix, ids.size(), 20);
            ids.addAll(round);
            assertTrue(answers.awaitAll(round, Duration.ofMinutes(2)), "answered: " + scorer.output());
        }
        return ids;
    }

    static List<String> push(KafkaProducer<String, String> p, String prefix, int from, int n) {
        List<String> ids = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            String id = prefix + "-" + i;
            p.send(new ProducerRecord<>("shadow-in", id, files.get(i % files.size())));
            ids.add(id);
        }
        p.flush();
        return ids;
    }

    @Test
    void thePromptShadowsWhenAskedAndSaysSoInItsStatus() throws Exception {
        Path ckpt = dir.resolve("ckpt-prompt");
        RunStore run = run(ckpt);
        String s1 = publish(run, early, 100, 0.80);
        PipedOutputStream keys = new PipedOutputStream();
        PipedInputStream screenIn = new PipedInputStream(1 << 20);
        PrintStream screen = new PrintStream(new PipedOutputStream(screenIn), true, StandardCharsets.UTF_8);
        Promotion shadow = new Promotion(Promotion.Mode.SHADOW, 60, Duration.ofMinutes(10), Promotion.DEFAULT_AGREEMENT, Promotion.DEFAULT_COLLAPSE);
        try (TerminalSession session = new TerminalSession(new CheckpointLocation(ckpt.toString(), new Configuration()),
                new ReaderSettings(Duration.ofMillis(100), ImageLimits.DEFAULT, List.of(), true, null, false, shadow), () -> "no model",
                new PipedPrompt(new PipedInputStream(keys, 1 << 20), screen, screen, true))) {
            Thread reader = new Thread(() -> {
                try {
                    session.run();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            reader.setDaemon(true);
            reader.start();
            Screen lines = new Screen(screenIn);
            PrintStream typed = new PrintStream(keys, true, StandardCharsets.UTF_8);

            String s2 = publish(run, broken, 200, 0.85);
            lines.await("candidate model: step 200");
            typed.println("status");
            String status = lines.await("Status: ");
            assertTrue(status.contains("candidate step 200") && status.contains("0 of 60 requests"), status);
            for (int i = 0; i < 60; i++) typed.println(files.get(i));
            String refused = lines.await("refused candidate step 200");
            System.out.println("[shadow] prompt: " + refused);
            assertTrue(refused.contains("collapsed onto class 3"), refused);
            typed.println(files.get(0));
            JsonNode answer = JSON.readTree(lines.await("{\"request_id\":\"61\"")); // the prompt numbers its requests
            assertEquals(s1, answer.get("model_sha256").asText());
            assertTrue(answer.get("shadow").isNull(), answer.toString());

            String s3 = publish(run, better, 300, 0.90);
            lines.await("candidate model: step 300");
            for (int i = 0; i < 60; i++) typed.println(files.get(60 + i));
            System.out.println("[shadow] prompt: " + lines.await("promoted candidate step 300"));
            typed.println(files.get(0));
            JsonNode next = JSON.readTree(lines.await("{\"request_id\":\"122\""));
            assertEquals(s3, next.get("model_sha256").asText());
            assertEquals(List.of("refused", "promoted"), decisions(ckpt).stream().map(n -> n.get("event").asText()).toList());
            typed.println("quit");
        }
    }

    /** What the prompt printed, line by line, as it comes. */
    static final class Screen {
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

        Screen(PipedInputStream in) {
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) lines.add(l);
                } catch (IOException e) {
                    // the prompt closed its end
                }
            });
            t.setDaemon(true);
            t.start();
        }

        /** The next line that contains {@code text}, skipping others (30 s at most). */
        String await(String text) throws InterruptedException {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            List<String> seen = new ArrayList<>();
            while (System.nanoTime() < end) {
                String l = lines.poll(200, TimeUnit.MILLISECONDS);
                if (l == null) continue;
                if (l.contains(text)) return l;
                seen.add(l);
            }
            throw new AssertionError("no line with " + text + " in " + seen);
        }
    }
}
