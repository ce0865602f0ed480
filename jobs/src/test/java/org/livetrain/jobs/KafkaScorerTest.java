package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.logging.log4j.Level;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.kafka.KafkaScorer;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.kafka.RequestScorer;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Kafka scorer end to end: a real KRaft broker on 127.0.0.1, a model trained by a short real run,
 * test-split digits exported as PNG files, their paths pushed with `push`, and the Structured Streaming
 * query in Spark local[2] answering on the output topic; bad requests get error records and the
 * stream goes on.
 */
@Tag("slow")
class KafkaScorerTest {
    static final int DIGITS = 100;
    @TempDir
    static Path dir;
    static LocalKafkaBroker broker;
    static Path ckpt, images;
    static int[] labels;

    @BeforeAll
    static void setUp() throws Exception {
        broker = SharedBroker.get();
        ckpt = dir.resolve("ckpt");
        Cli r = Cli.run("train", "--trainer", "byteps", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.err());
        images = Files.createDirectories(dir.resolve("images"));
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] test = Arrays.copyOf(digits.split(Split.DEFAULT_SEED).test(), DIGITS);
        labels = new int[DIGITS];
        int i = 0;
        for (var it = digits.pool().read(test); it.hasNext(); i++) {
            LabeledImage e = it.next();
            labels[i] = e.label();
            Mat m = new Mat(28, 28, CV_8UC1);
            try (UByteIndexer ix = m.createIndexer()) {
                for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(e.pixels()[p] * 255));
            }
            imwrite(images.resolve("digit-" + i + ".png").toString(), m);
        }
    }

    @AfterAll
    static void tearDown() {
        RequestScorer.closeAll();
    }

    static Map<String, JsonNode> readAnswers(String topic, int expected) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Map<String, JsonNode> out = new HashMap<>();
        List<String> keys = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "t-" + topic,
                "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(topic));
            long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (keys.size() < expected && System.nanoTime() < end) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                    keys.add(r.key());
                    JsonNode n = json.readTree(r.value());
                    assertEquals(r.key(), n.get("request_id").asText(), "the record key is the request id");
                    out.put(r.key(), n);
                }
            }
        }
        assertEquals(keys.size(), out.size(), "every request answered once: " + keys);
        return out;
    }

    @Test
    void pushedPathsComeBackAsPredictionsAndBadRequestsAsErrors() throws Exception {
        SparkSession spark = SparkSessions.create("scorer-test", 2, Map.of("spark.ui.enabled", "false"));
        StreamingQuery q = KafkaScorer.start(spark, Scorers.settings(broker.bootstrapServers(), "in", "out", ckpt.toString(), dir.resolve("query").toString(), "0 seconds", images));
        try {
            List<String> paths = new ArrayList<>();
            for (int i = 0; i < DIGITS; i++) paths.add(images.resolve("digit-" + i + ".png").toString());
            List<String> args = new ArrayList<>(List.of("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "in", "--id", "d"));
            args.addAll(paths);
            Cli pushed = Cli.run(args.toArray(String[]::new));
            assertEquals(0, pushed.exitCode(), pushed.err());

            Path outside = Path.of(System.getProperty("livetrain.repo", "..")).resolve("data/demo/seven.png").toAbsolutePath();
            Path link = images.resolve("sneaky.png");
            Files.createSymbolicLink(link, outside);
            Files.writeString(images.resolve("notes.png"), "not an image");
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()),
                    new ByteArraySerializer(), new ByteArraySerializer())) {
                send(p, "empty", new byte[0]);
                send(p, "binary", new byte[]{(byte) 0xff, (byte) 0xfe, 0x00, (byte) 0xc3});
                send(p, "missing", images.resolve("nope.png").toString().getBytes(StandardCharsets.UTF_8));
                send(p, "directory", images.toString().getBytes(StandardCharsets.UTF_8));
                send(p, "outside", outside.toString().getBytes(StandardCharsets.UTF_8));
                send(p, "symlink", link.toString().getBytes(StandardCharsets.UTF_8));
                send(p, "text", images.resolve("notes.png").toString().getBytes(StandardCharsets.UTF_8));
                send(p, "after", paths.get(0).getBytes(StandardCharsets.UTF_8));
                p.flush();
            }
            Map<String, JsonNode> answers = readAnswers("out", DIGITS + 8);
            int correct = 0;
            for (int i = 0; i < DIGITS; i++) {
                JsonNode a = answers.get("d-" + (i + 1));
                assertTrue(a != null && a.get("error").isNull(), "answer for d-" + (i + 1) + ": " + a);
                if (a.get("prediction").asText().equals(Integer.toString(labels[i]))) correct++;
            }
            double devAccuracy = CheckpointStore.open(ckpt.toString(), new Configuration()).best().orElseThrow().devAccuracy();
            double accuracy = correct / (double) DIGITS;
            assertTrue(accuracy > devAccuracy - 0.08, "accuracy through Kafka " + accuracy + " vs dev accuracy " + devAccuracy);
            assertError(answers, "empty", "empty request");
            assertError(answers, "binary", "not UTF-8");
            // a path that does not exist and one outside the roots get the same answer: requests cannot probe the host
            assertError(answers, "missing", "nope.png: no such file in the allowed roots");
            assertError(answers, "directory", "is a directory");
            assertError(answers, "outside", "seven.png: no such file in the allowed roots");
            assertError(answers, "symlink", "sneaky.png: no such file in the allowed roots");
            assertError(answers, "text", "not an image");
            assertTrue(answers.get("after").get("error").isNull(), "a good request after bad ones is answered: " + answers.get("after"));

            // push --wait: the answers where the user is, matched by request id, printed as the terminal does
            Cli waited = Cli.run("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "in", "--output-topic", "out", "--wait",
                    paths.get(0), images.resolve("nope.png").toString());
            assertEquals(0, waited.exitCode(), waited.out() + waited.err());
            assertTrue(waited.out().contains(paths.get(0) + ": Prediction: "), waited.out());
            assertTrue(waited.out().contains("nope.png: Error: ") && waited.out().contains("no such file in the allowed roots"), waited.out());
            Cli unanswered = Cli.run("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "nobody-reads", "--output-topic", "out",
                    "--wait", "--wait-timeout", "3", paths.get(0));
            assertEquals(1, unanswered.exitCode(), unanswered.out() + unanswered.err());
            assertTrue(unanswered.err().strip().startsWith("livetrain push: no answer within 3 s for 1 request(s) (push-"), unanswered.err());
        } finally {
            q.stop();
            spark.stop();
        }
    }

    /** Pushes digits 0..n-1 with ids PREFIX-1..n and waits for their answers on the output topic. */
    static Map<String, JsonNode> pushAndRead(String in, String out, String prefix, int n, Map<String, JsonNode> seen) throws Exception {
        List<String> args = new ArrayList<>(List.of("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", in, "--id", prefix));
        for (int i = 0; i < n; i++) args.add(images.resolve("digit-" + i + ".png").toString());
        assertEquals(0, Cli.run(args.toArray(String[]::new)).exitCode());
        ObjectMapper json = new ObjectMapper();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "g-" + out,
                "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(out));
            long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (System.nanoTime() < end) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) seen.put(r.key(), json.readTree(r.value()));
                boolean all = true;
                for (int i = 1; i <= n; i++) all &= seen.containsKey(prefix + "-" + i);
                if (all) break;
            }
        }
        return seen;
    }

    @Test
    void hotReloadMidStreamAndARestartLosesNothing() throws Exception {
        Path ckpt2 = dir.resolve("ckpt-reload");
        try (var files = Files.walk(ckpt)) {
            for (Path f : files.toList()) {
                Path to = ckpt2.resolve(ckpt.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        CheckpointStore dirStore = CheckpointStore.create(ckpt2.toString(), new Configuration());
        var store = dirStore.newestRun().orElseThrow();
        var best = dirStore.load(dirStore.best().orElseThrow(), true);
        Path query = dir.resolve("query-reload");
        SparkSession spark = SparkSessions.create("scorer-test-2", 2, Map.of("spark.ui.enabled", "false"));
        var settings = Scorers.settings(broker.bootstrapServers(), "in2", "out2", ckpt2.toString(), query.toString(), "0 seconds", images);
        StreamingQuery q = KafkaScorer.start(spark, settings);
        Map<String, JsonNode> seen = new HashMap<>();
        try {
            pushAndRead("in2", "out2", "a", 5, seen);
            assertEquals(best.meta().step(), seen.get("a-1").get("model_step").asLong());

            // a better checkpoint is published while the query runs: the next micro-batches use it
            long newStep = best.meta().step() + 1000;
            var m = best.meta();
            store.publish(best.network(), best.input(), CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(newStep, m.epoch(), 0.999,
                    m.evaluation().devLoss(), m.evaluation().trainLoss()), m.origin(), m.timing(), m.stats()));
            Thread.sleep(2500);
            pushAndRead("in2", "out2", "b", 5, seen);
            for (int i = 1; i <= 5; i++) assertEquals(newStep, seen.get("b-" + i).get("model_step").asLong(), "b-" + i + " used the new best");

            // the scorer stops; requests pushed meanwhile are answered once it is started again
            q.stop();
            List<String> args = new ArrayList<>(List.of("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "in2", "--id", "c"));
            for (int i = 0; i < 5; i++) args.add(images.resolve("digit-" + i + ".png").toString());
            assertEquals(0, Cli.run(args.toArray(String[]::new)).exitCode());
            q = KafkaScorer.start(spark, settings);
            pushAndRead("in2", "out2", "d", 1, seen); // d-1 comes after every c: once it is answered, all c's must be
            for (int i = 1; i <= 5; i++) {
                assertTrue(seen.containsKey("c-" + i), "c-" + i + " pushed while the scorer was down was answered");
                assertTrue(seen.get("c-" + i).get("error").isNull());
            }
        } finally {
            q.stop();
            spark.stop();
        }
    }

    @Test
    void continuousProcessingAnswersEachRequest() throws Exception {
        SparkSession spark = SparkSessions.create("scorer-test-3", 2, Map.of("spark.ui.enabled", "false"));
        StreamingQuery q = KafkaScorer.start(spark, Scorers.settings(broker.bootstrapServers(), "in3", "out3", ckpt.toString(), dir.resolve("query-continuous").toString(), "continuous", images));
        try {
            Map<String, JsonNode> seen = pushAndRead("in3", "out3", "e", 20, new HashMap<>());
            int correct = 0;
            for (int i = 0; i < 20; i++) {
                JsonNode a = seen.get("e-" + (i + 1));
                assertTrue(a != null && a.get("error").isNull(), "answer for e-" + (i + 1) + ": " + a);
                if (a.get("prediction").asText().equals(Integer.toString(labels[i]))) correct++;
            }
            assertTrue(correct >= 15, correct + " of 20 right in continuous mode");
            assertTrue(q.isActive() && q.exception().isEmpty(), "the continuous query keeps running");
        } finally {
            q.stop();
            spark.stop();
        }
    }

    /**
     * Issue 25, point 3: one record of 90,000 NUL bytes (key and value) once became an answer larger than the
     * producer takes, failed its micro-batch for good and stopped every answer after it. Now it gets a small
     * error record, and the paths after it are answered by the same query, which never fails. And when a batch
     * still cannot be written (here an output topic that takes records of at most 2,000 bytes, and a request
     * whose long path makes its answer larger), its requests are answered with an error record after 3
     * attempts, said once, and the stream goes on.
     */
    @Test
    void poisonRequestsAreAnsweredAndTheQueryNeverStops() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic("out-small", 1, (short) 1).configs(Map.of("max.message.bytes", "2000")))).all().get();
        }
        SparkSession spark = SparkSessions.create("scorer-test-poison", 2, Map.of("spark.ui.enabled", "false"));
        try (LogCapture said = LogCapture.of("org.livetrain.kafka.AnswerBatch", Level.WARN)) {
            for (String out : List.of("out-poison", "out-small")) {
                String in = "in-" + out;
                StreamingQuery q = KafkaScorer.start(spark, Scorers.settings(broker.bootstrapServers(), in, out, ckpt.toString(), dir.resolve("query-" + out).toString(), "0 seconds", images));
                try {
                    byte[] poison = out.equals("out-poison") ? new byte[90_000]
                            : images.resolve("x".repeat(200) + "/" + "y".repeat(200) + "/" + "z".repeat(2500).replaceAll("(.{200})", "$1/") + ".png")
                            .toString().getBytes(StandardCharsets.UTF_8);
                    byte[] key = out.equals("out-poison") ? new byte[90_000] : "long".getBytes(StandardCharsets.UTF_8);
                    try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()),
                            new ByteArraySerializer(), new ByteArraySerializer())) {
                        p.send(new ProducerRecord<>(in, key, poison)).get();
                    }
                    Map<String, String> first = readRaw(out, 1);
                    String poisonAnswer = first.values().iterator().next();
                    assertTrue(poisonAnswer.length() < 64_000, "a small answer: " + poisonAnswer.length() + " characters");
                    JsonNode a = new ObjectMapper().readTree(poisonAnswer);
                    assertTrue(a.get("prediction").isNull(), poisonAnswer);
                    if (out.equals("out-poison")) {
                        assertTrue(a.get("error").asText().equals("a request of 90000 bytes: an image path is at most 16384 bytes"), a.get("error").asText());
                        assertTrue(a.get("request_id").asText().endsWith("... (cut from 90000 characters)"), "the id is echoed cut");
                    } else {
                        assertTrue(a.get("error").asText().startsWith("not answered: micro-batch ") && a.get("error").asText().contains("RecordTooLargeException"),
                                a.get("error").asText());
                        assertEquals("long", a.get("request_id").asText());
                    }
                    Map<String, JsonNode> after = pushAndRead(in, out, "after-" + out, 5, new HashMap<>());
                    for (int i = 1; i <= 5; i++) assertTrue(after.get("after-" + out + "-" + i).get("error").isNull(), after.toString());
                    assertTrue(q.isActive() && q.exception().isEmpty(), "the query never failed: " + q.exception());
                } finally {
                    q.stop();
                }
            }
            assertEquals(1, said.lines().size(), said.lines().toString());
            assertTrue(said.lines().get(0).contains("could not be written in 3 attempts (RecordTooLargeException: "), said.lines().get(0));
        } finally {
            spark.stop();
        }
    }

    /** The first {@code n} records of a topic, key to value, as they are. */
    static Map<String, String> readRaw(String topic, int n) {
        Map<String, String> out = new HashMap<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "raw-" + topic,
                "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(topic));
            long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (out.size() < n && System.nanoTime() < end) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) out.put(r.key(), r.value());
            }
        }
        assertEquals(n, out.size(), "answers on " + topic);
        return out;
    }

    static void send(KafkaProducer<byte[], byte[]> p, String key, byte[] value) {
        p.send(new ProducerRecord<>("in", key.getBytes(StandardCharsets.UTF_8), value));
    }

    static void assertError(Map<String, JsonNode> answers, String id, String text) {
        JsonNode a = answers.get(id);
        assertTrue(a != null && a.get("prediction").isNull() && a.get("error").asText().contains(text), id + ": " + a);
    }
}
