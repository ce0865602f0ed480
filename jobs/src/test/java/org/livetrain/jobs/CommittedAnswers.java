package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A scorer's output topic read in the background as a consumer reading committed records only
 * ({@code isolation.level=read_committed}) sees it: every answer per request id.
 */
final class CommittedAnswers implements AutoCloseable {
    final Map<String, List<JsonNode>> byId = new ConcurrentHashMap<>();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Thread thread;

    CommittedAnswers(String bootstrapServers, String topic) {
        ObjectMapper json = new ObjectMapper();
        thread = new Thread(() -> {
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", bootstrapServers,
                    "group.id", "answers-" + topic, "auto.offset.reset", "earliest", "isolation.level", "read_committed"),
                    new StringDeserializer(), new StringDeserializer())) {
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

    /** The first answer to a request. */
    JsonNode first(String id) {
        return byId.get(id).get(0);
    }

    /** Answers beyond the first, over these request ids. */
    long duplicates(List<String> ids) {
        return ids.stream().mapToLong(id -> byId.getOrDefault(id, List.of()).size() - 1L).filter(n -> n > 0).sum();
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
