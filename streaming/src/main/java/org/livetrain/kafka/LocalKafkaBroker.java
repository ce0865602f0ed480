package org.livetrain.kafka;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.livetrain.LiveTrainException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * A single-node KRaft Kafka broker (broker and controller in one process), from the Kafka jars Maven
 * resolves, listening on 127.0.0.1 only: for trying LiveTrain out ({@code ./submit.sh kafka}) and for the
 * tests. Any standard Kafka client can use it. Not for production.
 */
public final class LocalKafkaBroker implements AutoCloseable {
    private final KafkaRaftServer server;
    private final int port;
    private final Path dataDir;

    /**
     * @param port    the client port (0 picks a free one)
     * @param dataDir where the log segments live; formatted on first use, reused after
     */
    public LocalKafkaBroker(int port, Path dataDir) throws IOException {
        this.port = port == 0 ? freePort() : port;
        this.dataDir = dataDir;
        Files.createDirectories(dataDir);
        int controllerPort = previousControllerPort(dataDir.resolve("server.properties"));
        if (controllerPort == 0) controllerPort = freePort();
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + this.port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + this.port);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", dataDir.resolve("logs").toString());
        p.put("num.partitions", "2");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "true");
        Path props = dataDir.resolve("server.properties");
        try (OutputStream out = Files.newOutputStream(props)) {
            p.store(out, "LiveTrain local KRaft broker");
        }
        // what kafka-storage.sh format does, once: a restarted broker keeps its cluster id and its data
        if (!Files.exists(dataDir.resolve("logs").resolve("meta.properties"))) {
            ByteArrayOutputStream formatLog = new ByteArrayOutputStream();
            int rc = StorageTool.execute(new String[]{"format", "-t", Uuid.randomUuid().toString(), "-c", props.toString()},
                    new PrintStream(formatLog, true, StandardCharsets.UTF_8));
            if (rc != 0) throw new LiveTrainException(dataDir + ": cannot format Kafka storage (" + formatLog.toString(StandardCharsets.UTF_8).strip() + ")");
        }
        this.server = new KafkaRaftServer(new KafkaConfig(p, false), Time.SYSTEM);
        try {
            server.startup();
        } catch (RuntimeException e) {
            throw new LiveTrainException("Kafka broker on 127.0.0.1:" + this.port + " did not start (" + e.getMessage() + ")", e);
        }
    }

    /** A restarted broker keeps its controller's port (its metadata log names the quorum), when it is free. */
    private static int previousControllerPort(Path props) {
        if (!Files.isRegularFile(props)) return 0;
        Properties old = new Properties();
        try (var in = Files.newInputStream(props)) {
            old.load(in);
            String voters = old.getProperty("controller.quorum.voters", "");
            int port = Integer.parseInt(voters.substring(voters.lastIndexOf(':') + 1));
            try (ServerSocket s = new ServerSocket(port, 50, InetAddress.getLoopbackAddress())) {
                return port;
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public String bootstrapServers() {
        return "127.0.0.1:" + port;
    }

    public Path dataDir() {
        return dataDir;
    }

    @Override
    public void close() {
        server.shutdown();
        server.awaitShutdown();
    }
}
