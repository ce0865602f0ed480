package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.image.InputContract;
import org.livetrain.image.Profile;
import org.livetrain.image.Shape;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.model.Models;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.IntStream;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.line;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scorer (`stream`, in a child JVM) under faults: killed with SIGKILL and started again, and the
 * broker restarted under it. Every request pushed before, during and after is answered at least once,
 * with its own request id.
 */
@Tag("slow")
class ScorerFaultsTest {
    @TempDir
    static Path dir;
    static LocalKafkaBroker broker;
    static Path ckpt, images, image;

    @BeforeAll
    static void setUp() throws Exception {
        broker = new LocalKafkaBroker(0, dir.resolve("kafka"));
        ckpt = dir.resolve("ckpt");
        // an untrained LeNet is enough: these tests are about answers, not their accuracy
        List<String> digits = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
        CheckpointStore.create(ckpt.toString(), new Configuration()).newRun(null, Map.of("trainer", "test", "data", "digits", "model", "lenet"), null, 3, null)
                .publish(Models.create(Models.Kind.LENET, new Shape(28, 28, 1), 10, 0.002, 1), InputContract.of(new Shape(28, 28, 1), Profile.DIGIT, digits),
                        CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(1, 1, 0.1, 2.3, 2.3), new CheckpointMeta.Origin("test", 1, "digits", "lenet", null),
                                new CheckpointMeta.Timing(1, 1), Map.of()));
        images = Files.createDirectories(dir.resolve("images"));
        image = images.resolve("seven.png");
        Mat m = new Mat(28, 28, CV_8UC1, new Scalar(0.0));
        line(m, new Point(6, 6), new Point(20, 6), new Scalar(255.0), 2, 8, 0);
        line(m, new Point(20, 6), new Point(10, 22), new Scalar(255.0), 2, 8, 0);
        imwrite(image.toString(), m);
    }

    @AfterAll
    static void tearDown() {
        broker.close();
    }

    static ChildJvm scorer(String name, String in, String out) throws Exception {
        return ChildJvm.start(dir.resolve("logs"), name, List.of(), "stream", "--bootstrap-servers", broker.bootstrapServers(),
                "--input-topic", in, "--output-topic", out, "--checkpoint-dir", ckpt.toString(),
                "--query-checkpoint", dir.resolve("query-" + in).toString(), "--allowed-roots", images.toString());
    }

    /** Reads the output topic in the background: every answer per request id. */
    static final class Answers implements AutoCloseable {
        final Map<String, List<JsonNode>> byId = new ConcurrentHashMap<>();
        final AtomicBoolean stop = new AtomicBoolean();
        final Thread thread;

        Answers(String topic) {
            ObjectMapper json = new ObjectMapper();
            thread = new Thread(() -> {
                try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(),
                        "group.id", "faults-" + topic, "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
                    c.subscribe(List.of(topic));
                    while (!stop.get()) {
                        c.poll(Duration.ofMillis(200)).forEach(r -> {
                            try {
                                byId.computeIfAbsent(r.key(), k -> new CopyOnWriteArrayList<>()).add(json.readTree(r.value()));
                            } catch (IOException e) {
                                throw new IllegalStateException(e);
                            }
                        });
                    }
                }
            }, "answers-" + topic);
            thread.start();
        }

        boolean awaitAll(List<String> ids, Duration timeout) throws InterruptedException {
            long end = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < end) {
                if (ids.stream().allMatch(byId::containsKey)) return true;
                Thread.sleep(100);
            }
            return false;
        }

        List<String> missing(List<String> ids) {
            return ids.stream().filter(id -> !byId.containsKey(id)).toList();
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            thread.join();
        }
    }

    static List<String> ids(String prefix, int n) {
        return IntStream.rangeClosed(1, n).mapToObj(i -> prefix + "-" + i).toList();
    }

    static KafkaProducer<String, String> producer() {
        return new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "delivery.timeout.ms", "180000",
                "request.timeout.ms", "10000"), new StringSerializer(), new StringSerializer());
    }

    static void push(KafkaProducer<String, String> p, String topic, List<String> ids) {
        for (String id : ids) p.send(new ProducerRecord<>(topic, id, image.toString()));
    }

    static void assertAnswered(Answers answers, List<String> ids) {
        for (String id : ids) {
            for (JsonNode a : answers.byId.get(id)) {
                assertEquals(id, a.get("request_id").asText());
                assertEquals(image.toString(), a.get("path").asText());
                assertTrue(a.get("error").isNull(), id + ": " + a);
            }
        }
    }

    @Test
    void aScorerKilledWithSigkillAndStartedAgainAnswersEveryRequest() throws Exception {
        List<String> before = ids("a", 200), whileDown = ids("b", 100);
        try (Answers answers = new Answers("k-out"); KafkaProducer<String, String> p = producer()) {
            try (ChildJvm first = scorer("killed", "k-in", "k-out")) {
                push(p, "k-in", before);
                p.flush();
                // kill it while it is answering
                assertTrue(answers.awaitAll(before.subList(0, 1), Duration.ofMinutes(3)), "the scorer answers: " + first.output());
                first.kill();
            }
            int answeredBeforeKill = (int) before.stream().filter(answers.byId::containsKey).count();
            push(p, "k-in", whileDown);
            p.flush();
            try (ChildJvm second = scorer("restarted", "k-in", "k-out")) {
                List<String> all = new ArrayList<>(before);
                all.addAll(whileDown);
                assertTrue(answers.awaitAll(all, Duration.ofMinutes(3)), "unanswered: " + answers.missing(all) + "\n" + second.output());
                assertAnswered(answers, all);
                long duplicates = all.stream().mapToLong(id -> answers.byId.get(id).size() - 1).sum();
                System.out.printf("[sigkill] %d of %d answered before the kill; after the restart all %d answered, %d answered twice (at-least-once)%n",
                        answeredBeforeKill, before.size(), all.size(), duplicates);
            }
        }
    }

    @Test
    void theScorerKeepsAnsweringAcrossABrokerRestart() throws Exception {
        // the broker keeps its data: topics and offsets survive the restart. The query rides out the
        // outage on the Kafka clients' retries (a 90 s outage measured the same way did not fail it either)
        List<String> before = ids("c", 20), during = ids("d", 20), after = ids("e", 20);
        int port = Integer.parseInt(broker.bootstrapServers().substring(broker.bootstrapServers().lastIndexOf(':') + 1));
        try (ChildJvm scorer = scorer("broker-restart", "r-in", "r-out")) {
            try (Answers answers = new Answers("r-out"); KafkaProducer<String, String> p = producer()) {
                push(p, "r-in", before);
                p.flush();
                assertTrue(answers.awaitAll(before, Duration.ofMinutes(3)), "before: " + answers.missing(before) + "\n" + scorer.output());

                broker.close();
                push(p, "r-in", during); // the producer holds them until the broker is back
                Thread.sleep(10_000);
                broker = new LocalKafkaBroker(port, dir.resolve("kafka"));
                push(p, "r-in", after);
                p.flush();
                List<String> all = new ArrayList<>(before);
                all.addAll(during);
                all.addAll(after);
                assertTrue(answers.awaitAll(all, Duration.ofMinutes(4)), "unanswered: " + answers.missing(all) + "\n" + scorer.output());
                assertAnswered(answers, all);
                assertTrue(scorer.process.isAlive(), "the scorer is still running");
                System.out.println("[broker restart] scorer said: " + Files.readAllLines(scorer.err).stream()
                        .filter(l -> l.startsWith("the scorer query")).toList());
            }
        }
    }
}
