package org.livetrain.cli;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.livetrain.LiveTrainException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/** {@code livetrain push}: image paths to a Kafka topic, for the scorer. */
@Command(name = "push", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Send image paths to a Kafka topic (the paths given, or one per line of standard input).",
                "Relative paths are made absolute; the record key is the request id (--id, numbered when several paths)."})
public final class PushCommand implements Callable<Integer> {
    @Mixin
    KafkaOptions kafka;

    @Option(names = "--topic", paramLabel = "TOPIC", defaultValue = "image-paths", description = "The input topic of the scorer.")
    String topic;

    @Option(names = "--id", paramLabel = "ID", description = "Request id (record key); ID-1, ID-2, ... for several paths.")
    String id;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "15", description = "Give up when the broker does not answer within this time.")
    int timeoutSeconds;

    @Parameters(paramLabel = "PATH", arity = "0..*", description = "Image paths; none: read them from standard input.")
    List<String> paths = new ArrayList<>();

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain top;

    @Override
    public Integer call() throws Exception {
        common.apply();
        List<String> values = paths();
        int acked = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProperties(), new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < values.size(); i++) {
                String key = id == null ? null : values.size() == 1 ? id : id + "-" + (i + 1);
                String path = Path.of(values.get(i)).isAbsolute() ? values.get(i) : Path.of(values.get(i)).toAbsolutePath().normalize().toString();
                sent.add(producer.send(new ProducerRecord<>(topic, key, path)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : sent) {
                try {
                    f.get();
                    acked++;
                } catch (ExecutionException e) {
                    throw new LiveTrainException("--bootstrap-servers " + kafka.bootstrapServers + ": " + acked + " of " + values.size()
                            + " paths acknowledged, then: " + e.getCause().getMessage() + " (is the broker running and reachable?)");
                }
            }
        } catch (KafkaException e) {
            throw new LiveTrainException("--bootstrap-servers " + kafka.bootstrapServers + ": " + e.getMessage()
                    + (e.getCause() == null ? "" : " (" + e.getCause().getMessage() + ")"));
        }
        top.out.printf("pushed %d path(s) to topic %s on %s: %d acknowledged%n", values.size(), topic, kafka.bootstrapServers, acked);
        return 0;
    }

    /** The paths given, or else one per line of standard input. */
    private List<String> paths() throws IOException {
        if (!paths.isEmpty()) return paths;
        List<String> values = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(top.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) if (!line.isBlank()) values.add(line.strip());
        return values;
    }

    /** Every record acknowledged by all in-sync replicas, and no wait longer than --timeout. */
    private Properties producerProperties() {
        Properties p = kafka.clientProperties();
        long ms = timeoutSeconds * 1000L;
        p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
        p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(ms));
        p.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(Math.max(500, Math.min(5000, ms / 2))));
        p.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(ms));
        p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
        return p;
    }
}
