package org.livetrain.cli;

import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/** Options of the commands that talk to Kafka. */
public final class KafkaOptions {
    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,...]", required = true, description = "The Kafka cluster to talk to.")
    String bootstrapServers;

    @Option(names = "--kafka-property", paramLabel = "KEY=VALUE", mapFallbackValue = "",
            description = "A Kafka client setting (repeatable), e.g. security.protocol=SASL_SSL, sasl.mechanism=PLAIN, ssl.truststore.location=...")
    Map<String, String> properties = new LinkedHashMap<>();

    Properties clientProperties() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.putAll(properties);
        return p;
    }
}
