package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.kafka.Delivery;
import org.livetrain.kafka.KafkaScorer;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.Promotion;
import org.livetrain.store.CheckpointLocation;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The Kafka scorer's settings as the tests use them: the defaults of {@code stream} but for what each test names. */
final class Scorers {
    private Scorers() {
    }

    static KafkaScorer.Settings settings(String bootstrapServers, String in, String out, String checkpointDir, String queryCheckpoint, String trigger,
                                         Path allowedRoot) {
        return new KafkaScorer.Settings(new KafkaScorer.Topics(bootstrapServers, in, out, Map.of()), new CheckpointLocation(checkpointDir, new Configuration()),
                new KafkaScorer.Query(queryCheckpoint, trigger, KafkaScorer.DEFAULT_MAX_OFFSETS_PER_TRIGGER,
                        trigger.equals("continuous") ? Delivery.AT_LEAST_ONCE : Delivery.EXACTLY_ONCE, Promotion.IMMEDIATE),
                new KafkaScorer.Reading(List.of(allowedRoot.toString()), ImageLimits.DEFAULT));
    }
}
