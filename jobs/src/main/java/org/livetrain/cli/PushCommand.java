package org.livetrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.livetrain.LiveTrainException;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.terminal.TerminalReader;
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
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
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

    @Option(names = "--wait", description = "Wait for the scorer's answers to these paths (matched by request id on --output-topic) and print them"
            + " as the terminal does; the exit code is 1 if some did not come within --wait-timeout.")
    boolean await;

    @Option(names = "--wait-timeout", paramLabel = "SECONDS", defaultValue = "60", description = "With --wait: how long to wait for the answers.")
    int waitSeconds;

    @Option(names = "--output-topic", paramLabel = "TOPIC", defaultValue = "predictions", description = "With --wait: where the scorer writes its answers.")
    String outputTopic;

    @Option(names = "--json", description = "With --wait: print the answers as JSON records, one per line.")
    boolean json;

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
        List<String> keys = keys(values.size());
        try (AnswerWaiter waiter = await ? new AnswerWaiter(kafka.clientProperties(), outputTopic, Duration.ofSeconds(timeoutSeconds)) : null) {
            int acked = send(values, keys);
            top.out.printf("pushed %d path(s) to topic %s on %s: %d acknowledged%n", values.size(), topic, kafka.bootstrapServers, acked);
            return waiter == null ? 0 : printAnswers(waiter, keys);
        }
    }

    /** The request ids: --id (numbered when several), generated ones to wait for, or none (the scorer numbers them). */
    private List<String> keys(int n) {
        String base = id != null ? id : await ? "push-" + HexFormat.of().formatHex(new SecureRandom().generateSeed(4)) : null;
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < n; i++) keys.add(base == null ? null : n == 1 && id != null ? base : base + "-" + (i + 1));
        return keys;
    }

    /** Sends every path with its key; returns how many the brokers acknowledged. */
    private int send(List<String> values, List<String> keys) throws InterruptedException {
        int acked = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProperties(), new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < values.size(); i++) {
                String key = keys.get(i);
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
        return acked;
    }

    /** Prints each answer as the terminal does (or as JSON); 1 when some did not come in time. */
    private int printAnswers(AnswerWaiter waiter, List<String> keys) throws IOException {
        Map<String, ScoreRecord> got = waiter.await(new HashSet<>(keys), Duration.ofSeconds(waitSeconds));
        ObjectMapper mapper = new ObjectMapper();
        for (String k : keys) {
            ScoreRecord r = got.get(k);
            if (r != null) top.out.println(json ? mapper.writeValueAsString(r) : r.path() + ": " + TerminalReader.human(r));
        }
        top.out.flush();
        List<String> missing = AnswerWaiter.missing(keys, got);
        if (missing.isEmpty()) return 0;
        top.err.println("livetrain push: no answer within " + waitSeconds + " s for " + missing.size() + " request(s) (" + String.join(", ", missing)
                + ") on topic " + outputTopic + "; is the scorer (stream) running?");
        return 1;
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
