package org.livetrain.kafka;

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
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.Property;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.Promotion;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunStore;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Kafka scorer on its own: a real KRaft broker on 127.0.0.1, a model fitted in this JVM and published as a
 * checkpoint, test-split digits exported as PNG files, their paths pushed as records, and the Structured
 * Streaming query in Spark local[2] answering on the output topic; bad requests get error records and the
 * stream goes on. ({@code push --wait} against a scorer started by {@code stream} is in the jobs module.)
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
        broker = new LocalKafkaBroker(0, dir.resolve("kafka"));
        ckpt = dir.resolve("ckpt");
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        Split split = digits.split(Split.DEFAULT_SEED);
        publishTrained(digits, split, ckpt);
        images = Files.createDirectories(dir.resolve("images"));
        int[] test = Arrays.copyOf(split.test(), DIGITS);
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

    /** An MLP fitted in this JVM for two epochs of the digits' training split, published with its dev accuracy as a run's checkpoint. */
    static void publishTrained(Dataset digits, Split split, Path into) {
        Network net = Models.create(Models.Kind.MLP, digits.shape(), digits.numClasses(), 0.002, 1);
        for (int epoch = 0; epoch < 2; epoch++) {
            Batches.batches(digits.pool().read(split.train()), 64, digits.numClasses()).forEachRemaining(b -> net.stack().fit(b));
        }
        long right = 0;
        for (var it = Batches.batches(digits.pool().read(split.dev()), 256, digits.numClasses()); it.hasNext(); ) {
            DataSet b = it.next();
            right += net.output(b.getFeatures()).argMax(1).eq(b.getLabels().argMax(1)).castTo(DataType.INT).sumNumber().longValue();
        }
        double dev = right / (double) split.dev().length;
        RunStore run = CheckpointStore.create(into.toString(), new Configuration()).newRun(null, Map.of("trainer", "test", "data", "digits", "model", "mlp"),
                digits.contract(), 3, null);
        run.publish(net, digits.contract(), CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(250, 2, dev, 0, 0),
                new CheckpointMeta.Origin("test", 1, "digits", "mlp", null), new CheckpointMeta.Timing(1, 1), Map.of()));
    }

    /** The scorer's settings for these tests: the defaults of {@code stream} but for what each test names. */
    static KafkaScorer.Settings settings(String in, String out, Path checkpoints, String query, String trigger) {
        return new KafkaScorer.Settings(new KafkaScorer.Topics(broker.bootstrapServers(), in, out, Map.of()),
                new CheckpointLocation(checkpoints.toString(), new Configuration()),
                new KafkaScorer.Query(query, trigger, KafkaScorer.DEFAULT_MAX_OFFSETS_PER_TRIGGER,
                        trigger.equals("continuous") ? Delivery.AT_LEAST_ONCE : Delivery.EXACTLY_ONCE, Promotion.IMMEDIATE),
                new KafkaScorer.Reading(List.of(images.toString()), ImageLimits.DEFAULT));
    }

    /** Pushes the paths as records keyed PREFIX-1, PREFIX-2, ... as {@code push --id PREFIX} would. */
    static void push(String topic, String prefix, List<String> paths) throws Exception {
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()),
                new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < paths.size(); i++) p.send(new ProducerRecord<>(topic, prefix + "-" + (i + 1), paths.get(i))).get();
        }
    }

    @AfterAll
    static void tearDown() {
        RequestScorer.closeAll();
        broker.close();
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
        StreamingQuery q = KafkaScorer.start(spark, settings("in", "out", ckpt, dir.resolve("query").toString(), "0 seconds"));
        try {
            List<String> paths = new ArrayList<>();
            for (int i = 0; i < DIGITS; i++) paths.add(images.resolve("digit-" + i + ".png").toString());
            push("in", "d", paths);

            Path outside = Files.writeString(dir.resolve("outside.png"), "outside the allowed roots");
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
            assertError(answers, "outside", "outside.png: no such file in the allowed roots");
            assertError(answers, "symlink", "sneaky.png: no such file in the allowed roots");
            assertError(answers, "text", "not an image");
            assertTrue(answers.get("after").get("error").isNull(), "a good request after bad ones is answered: " + answers.get("after"));
        } finally {
            q.stop();
            spark.stop();
        }
    }

    /** Pushes digits 0..n-1 with ids PREFIX-1..n and waits for their answers on the output topic. */
    static Map<String, JsonNode> pushAndRead(String in, String out, String prefix, int n, Map<String, JsonNode> seen) throws Exception {
        List<String> paths = new ArrayList<>(), ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            paths.add(images.resolve("digit-" + i + ".png").toString());
            ids.add(prefix + "-" + (i + 1));
        }
        push(in, prefix, paths);
        return readUntil(out, ids, seen);
    }

    /** Reads answers from {@code out} into {@code seen} until every one of {@code ids} is there (or 90 s have passed). */
    static Map<String, JsonNode> readUntil(String out, List<String> ids, Map<String, JsonNode> seen) throws Exception {
        ObjectMapper json = new ObjectMapper();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "g-" + out,
                "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(out));
            long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (System.nanoTime() < end && !seen.keySet().containsAll(ids)) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) seen.put(r.key(), json.readTree(r.value()));
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
        var settings = settings("in2", "out2", ckpt2, query.toString(), "0 seconds");
        StreamingQuery q = KafkaScorer.start(spark, settings);
        Map<String, JsonNode> seen = new HashMap<>();
        try {
            pushAndRead("in2", "out2", "a", 5, seen);
            assertEquals(best.meta().step(), seen.get("a-1").get("model_step").asLong());
            String firstSha = dirStore.best().orElseThrow().sha256();
            assertEquals(firstSha, seen.get("a-1").get("model_sha256").asText(), "each answer names its checkpoint exactly");

            // a better checkpoint is published while the query runs: the next micro-batches use it
            long newStep = best.meta().step() + 1000;
            var m = best.meta();
            store.publish(best.network(), best.input(), CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(newStep, m.epoch(), 0.999,
                    m.evaluation().devLoss(), m.evaluation().trainLoss()), m.origin(), m.timing(), m.stats()));
            Thread.sleep(2500);
            pushAndRead("in2", "out2", "b", 5, seen);
            for (int i = 1; i <= 5; i++) assertEquals(newStep, seen.get("b-" + i).get("model_step").asLong(), "b-" + i + " used the new best");
            String newSha = dirStore.best().orElseThrow().sha256();
            assertNotEquals(firstSha, newSha);
            assertEquals(newSha, seen.get("b-1").get("model_sha256").asText());

            // the scorer stops; requests pushed meanwhile are answered once it is started again
            q.stop();
            List<String> pushed = new ArrayList<>();
            for (int i = 0; i < 5; i++) pushed.add(images.resolve("digit-" + i + ".png").toString());
            push("in2", "c", pushed);
            q = KafkaScorer.start(spark, settings);
            readUntil("out2", List.of("c-1", "c-2", "c-3", "c-4", "c-5"), seen);
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
        StreamingQuery q = KafkaScorer.start(spark, settings("in3", "out3", ckpt, dir.resolve("query-continuous").toString(), "continuous"));
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
     * error record, and the paths after it are answered by the same query, which never fails. And when an
     * answer still cannot be written (here an output topic that takes records of at most 2,000 bytes, and a
     * request whose long path makes its answer larger), its request is answered with an error record naming the
     * refusal, never retried as it was, this is said once, and the stream goes on.
     */
    @Test
    void poisonRequestsAreAnsweredAndTheQueryNeverStops() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic("out-small", 1, (short) 1).configs(Map.of("max.message.bytes", "2000")))).all().get();
        }
        SparkSession spark = SparkSessions.create("scorer-test-poison", 2, Map.of("spark.ui.enabled", "false"));
        List<String> said = new CopyOnWriteArrayList<>();
        Logger logger = (Logger) LogManager.getLogger(AnswerBatch.class);
        AbstractAppender capture = new AbstractAppender("said", null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent event) {
                said.add(event.getMessage().getFormattedMessage());
            }
        };
        capture.start();
        logger.addAppender(capture);
        Level was = logger.getLevel();
        Configurator.setLevel(logger.getName(), Level.WARN);
        try {
            for (String out : List.of("out-poison", "out-small")) {
                String in = "in-" + out;
                StreamingQuery q = KafkaScorer.start(spark, settings(in, out, ckpt, dir.resolve("query-" + out).toString(), "0 seconds"));
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
                        assertTrue(a.get("error").asText().startsWith("not answered: the output topic refused the answer (") && a.get("error").asText().contains("RecordTooLargeException"),
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
            assertEquals(1, said.size(), said.toString());
            assertTrue(said.get(0).contains("the output topic refused 1 of its 1 answers (RecordTooLargeException: "), said.get(0));
        } finally {
            logger.removeAppender(capture);
            Configurator.setLevel(logger.getName(), was);
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
