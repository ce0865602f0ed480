package org.livetrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.livetrain.LiveTrainException;
import org.livetrain.serving.ScoreRecord;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * {@code push --wait}: reads the scorer's output topic from its end as it was before the paths were sent, and
 * collects the answers whose request id is one of ours (no consumer group: nothing is committed, nothing taken
 * from another reader).
 */
final class AnswerWaiter implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final KafkaConsumer<String, String> consumer;
    private final String topic;

    /** Positions at the topic's current end; call before sending the requests. */
    AnswerWaiter(Properties client, String topic, Duration timeout) {
        Properties p = new Properties();
        p.putAll(client);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        // committed answers only: with exactly-once delivery, each request's answer once, whatever the scorer went through
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(timeout.toMillis()));
        this.topic = topic;
        this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
        List<PartitionInfo> partitions;
        try {
            partitions = consumer.partitionsFor(topic, timeout);
        } catch (KafkaException e) {
            consumer.close();
            throw new LiveTrainException("--bootstrap-servers " + client.getProperty("bootstrap.servers") + ": cannot read topic " + topic + " ("
                    + e.getMessage() + ")");
        }
        if (partitions == null || partitions.isEmpty()) {
            consumer.close();
            throw new LiveTrainException("--output-topic " + topic + ": no such topic (is the scorer running? it creates its topics)");
        }
        List<TopicPartition> tps = partitions.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        consumer.assign(tps);
        consumer.seekToEnd(tps);
        tps.forEach(consumer::position); // fixes the end now, before anything is sent
    }

    /** The answers to {@code ids} in their order, as many as came within {@code timeout}. */
    Map<String, ScoreRecord> await(Set<String> ids, Duration timeout) throws IOException {
        Map<String, ScoreRecord> got = new LinkedHashMap<>();
        long end = System.nanoTime() + timeout.toNanos();
        while (got.size() < ids.size() && System.nanoTime() < end) {
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                if (r.key() != null && ids.contains(r.key()) && !got.containsKey(r.key())) got.put(r.key(), JSON.readValue(r.value(), ScoreRecord.class));
            }
        }
        return got;
    }

    /** The ids of {@code ids} not in {@code got}. */
    static List<String> missing(List<String> ids, Map<String, ScoreRecord> got) {
        List<String> out = new ArrayList<>();
        for (String id : ids) if (!got.containsKey(id)) out.add(id);
        return out;
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(2));
    }
}
