package org.livetrain.jobs;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.kafka.LocalKafkaBroker;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `push` against a real KRaft broker started in this JVM on 127.0.0.1, read back with a plain Kafka consumer. */
@Tag("slow")
class KafkaPushTest {
    @TempDir
    static Path dir;
    static LocalKafkaBroker broker;

    @BeforeAll
    static void start() {
        broker = SharedBroker.get();
    }

    static List<ConsumerRecord<String, String>> read(String topic, int expected) {
        Map<String, Object> conf = Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "test-" + topic,
                "auto.offset.reset", "earliest");
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(conf, new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(topic));
            long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (out.size() < expected && System.nanoTime() < end) c.poll(Duration.ofMillis(200)).forEach(out::add);
        }
        return out;
    }

    @Test
    void pathsArePushedWithRequestIdsAndMadeAbsolute() {
        Cli r = Cli.run("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "t1", "--id", "req", "/data/a.png", "/data/b.png", "rel/c.png");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("pushed 3 path(s) to topic t1 on " + broker.bootstrapServers() + ": 3 acknowledged"), r.out());
        List<ConsumerRecord<String, String>> got = new ArrayList<>(read("t1", 3));
        assertEquals(3, got.size());
        got.sort(Comparator.comparing(ConsumerRecord::key)); // two partitions: no order across them
        assertEquals("/data/a.png", got.get(0).value());
        assertEquals("req-1", got.get(0).key());
        assertEquals("req-2", got.get(1).key());
        assertEquals(Path.of("rel/c.png").toAbsolutePath().normalize().toString(), got.get(2).value());
        assertEquals("req-3", got.get(2).key());
    }

    @Test
    void standardInputLinesArePushedWithoutKeys() {
        Cli r = Cli.withInput("/x/1.png\n\n/x/2.png\n", "push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "t2");
        assertEquals(0, r.exitCode(), r.err());
        List<ConsumerRecord<String, String>> got = new ArrayList<>(read("t2", 2));
        got.sort(Comparator.comparing(ConsumerRecord::value));
        assertEquals(List.of("/x/1.png", "/x/2.png"), got.stream().map(ConsumerRecord::value).toList());
        assertNull(got.get(0).key());
    }

    @Test
    void anUnreachableBrokerIsAClearErrorNotAHang() {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            Cli r = Cli.run("push", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "3", "/x.png");
            assertEquals(2, r.exitCode());
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.contains("127.0.0.1:1") && err.contains("0 of 1 paths acknowledged"), err);
        });
    }
}
