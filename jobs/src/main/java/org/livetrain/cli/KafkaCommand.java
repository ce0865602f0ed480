package org.livetrain.cli;

import org.livetrain.LiveTrainException;
import org.livetrain.kafka.LocalKafkaBroker;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** {@code livetrain kafka}: a local single-node KRaft broker on 127.0.0.1 for trying the scorer out. */
@Command(name = "kafka", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Run a single-node KRaft Kafka broker on 127.0.0.1 (from the Kafka jars Maven resolves), for trying LiveTrain out.",
                "In the foreground until Ctrl-C; --daemon starts it in the background and --stop stops it."})
public final class KafkaCommand implements Callable<Integer> {
    @Option(names = "--port", paramLabel = "PORT", defaultValue = "9092", description = "The client port on 127.0.0.1.")
    int port;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "kafka-data", description = "Where the broker keeps its logs (kept between runs).")
    Path dataDir;

    @Option(names = "--daemon", description = "Start in the background; the pid goes to DIR/broker.pid, the output to DIR/broker.log.")
    boolean daemon;

    @Option(names = "--stop", description = "Stop the broker started with --daemon (its pid file in --data-dir).")
    boolean stop;

    @ParentCommand
    LiveTrain top;

    @Override
    public Integer call() throws Exception {
        Path pidFile = dataDir.resolve("broker.pid");
        if (stop) return stop(pidFile);
        if (daemon) return daemon(pidFile);
        LocalKafkaBroker broker = new LocalKafkaBroker(port, dataDir.toAbsolutePath());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            broker.close();
            stopped.countDown();
        }, "livetrain-kafka-shutdown"));
        top.out.println("Kafka broker on " + broker.bootstrapServers() + " (data in " + broker.dataDir() + "); Ctrl-C stops it");
        top.out.flush();
        stopped.await();
        return 0;
    }

    private int daemon(Path pidFile) throws IOException, InterruptedException {
        Files.createDirectories(dataDir);
        if (Files.exists(pidFile)) {
            long old = Long.parseLong(Files.readString(pidFile).strip());
            if (ProcessHandle.of(old).map(ProcessHandle::isAlive).orElse(false)) {
                throw new LiveTrainException(pidFile + ": a broker (pid " + old + ") is already running; stop it with --stop");
            }
        }
        // the same JVM and classpath, running this command in the foreground
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LiveTrain.class.getName(),
                "kafka", "--port", String.valueOf(port), "--data-dir", dataDir.toAbsolutePath().toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dataDir.resolve("broker.log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        Files.writeString(pidFile, Long.toString(p.pid()));
        long end = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < end) {
            if (!p.isAlive()) throw new LiveTrainException("the broker exited at start (see " + dataDir.resolve("broker.log") + ")");
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                top.out.println("Kafka broker on 127.0.0.1:" + port + " in the background (pid " + p.pid() + ", log " + dataDir.resolve("broker.log") + ")");
                return 0;
            } catch (IOException notYet) {
                Thread.sleep(200);
            }
        }
        p.destroy();
        throw new LiveTrainException("the broker did not open 127.0.0.1:" + port + " within 60 s (see " + dataDir.resolve("broker.log") + ")");
    }

    private int stop(Path pidFile) throws IOException, InterruptedException {
        if (!Files.exists(pidFile)) throw new LiveTrainException(pidFile + ": no pid file: no broker was started with --daemon here");
        long pid = Long.parseLong(Files.readString(pidFile).strip());
        var handle = ProcessHandle.of(pid);
        if (handle.isPresent() && handle.get().isAlive()) {
            handle.get().destroy(); // SIGTERM: the shutdown hook closes the broker cleanly
            try {
                handle.get().onExit().get(60, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                throw new LiveTrainException("broker pid " + pid + " did not stop within 60 s");
            }
        }
        Files.deleteIfExists(pidFile);
        top.out.println("Kafka broker (pid " + pid + ") stopped");
        return 0;
    }
}
