package org.livetrain.jobs;

import org.livetrain.kafka.LocalKafkaBroker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One real KRaft broker on 127.0.0.1 for every test class of this JVM that does not need one of its own
 * (one that is stopped or restarted needs its own): started on first use, stopped when the JVM ends. Each
 * class keeps to topics and consumer groups of its own names.
 */
final class SharedBroker {
    private static LocalKafkaBroker broker;

    private SharedBroker() {
    }

    static synchronized LocalKafkaBroker get() {
        if (broker == null) {
            try {
                Path dir = Files.createTempDirectory("livetrain-test-kafka");
                broker = new LocalKafkaBroker(0, dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "shared-broker-stop"));
        }
        return broker;
    }
}
