package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.HistoryEntry;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real multi-process cluster on 127.0.0.1: a Spark standalone Master and two Workers in their own JVMs,
 * started from the Spark jars; the job goes in through SparkSubmit, and its two executors (two more JVMs,
 * launched by the Workers) train with the BytePS trainer and publish best.json. After the first
 * checkpoint one executor JVM is killed with SIGKILL: its Worker starts a new executor, the barrier stage
 * runs again and resumes from the latest checkpoint, and the run finishes without its best moving back.
 */
@Tag("slow")
class StandaloneClusterTest {
    static final List<Process> processes = new ArrayList<>();

    @TempDir
    static Path dir;

    @AfterAll
    static void stopCluster() {
        for (Process p : processes) p.descendants().forEach(ProcessHandle::destroy);
        for (Process p : processes) p.destroy();
        for (Process p : processes) {
            try {
                if (!p.waitFor(20, TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The test's own classpath, expanded (surefire may hand it over as a manifest-only jar). */
    static List<String> classpath() throws IOException {
        List<String> out = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (e.endsWith(".jar") && new File(e).getName().startsWith("surefire")) {
                try (JarFile j = new JarFile(e)) {
                    String cp = j.getManifest().getMainAttributes().getValue("Class-Path");
                    if (cp != null) for (String u : cp.split(" ")) out.add(Path.of(URI.create(u)).toString());
                }
            } else {
                out.add(e);
            }
        }
        return out;
    }

    static Process start(String name, List<String> command, Path sparkHome) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile());
        pb.environment().put("SPARK_HOME", sparkHome.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.12");
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    static List<String> java(String cp, String... rest) {
        List<String> c = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g"));
        c.addAll(List.of(System.getProperty("livetrain.java17.flags", "").split(" ")));
        c.removeIf(String::isBlank);
        c.addAll(List.of("-cp", cp));
        c.addAll(List.of(rest));
        return c;
    }

    @Test
    void trainsOnAStandaloneClusterOfSeparateJvms() throws Exception {
        // a SPARK_HOME whose jars/ holds the jars of this classpath, as a distribution's does
        Path sparkHome = Files.createDirectories(dir.resolve("spark-home"));
        Path jars = Files.createDirectories(sparkHome.resolve("jars"));
        List<String> dirs = new ArrayList<>();
        for (String e : classpath()) {
            Path p = Path.of(e);
            if (Files.isDirectory(p)) {
                if (!p.toString().contains("test-classes")) dirs.add(p.toString());
            } else if (e.endsWith(".jar") && Files.exists(p)) {
                Path link = jars.resolve(p.getFileName());
                if (!Files.exists(link)) Files.createSymbolicLink(link, p);
            }
        }
        String sparkCp = jars + File.separator + "*";
        String appClasses = String.join(File.pathSeparator, dirs);
        int masterPort = freePort();
        String master = "spark://127.0.0.1:" + masterPort;
        start("master", java(sparkCp, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", String.valueOf(masterPort),
                "--webui-port", String.valueOf(freePort())), sparkHome);
        for (int i = 1; i <= 2; i++) {
            Path work = Files.createDirectories(dir.resolve("worker-" + i));
            start("worker-" + i, java(sparkCp, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1", "--memory", "3g",
                    "--webui-port", String.valueOf(freePort()), "--work-dir", work.toString(), master), sparkHome);
        }
        Path app = dir.resolve("app.jar"); // SparkSubmit wants a primary resource; the classes come from the classpath
        Manifest mf = new Manifest();
        mf.getMainAttributes().putValue("Manifest-Version", "1.0");
        try (JarOutputStream ignored = new JarOutputStream(Files.newOutputStream(app), mf)) {
            // empty
        }
        Path ckpt = dir.resolve("ckpt");
        String flags = System.getProperty("livetrain.java17.flags", "");
        Process submit = start("submit", java(appClasses + File.pathSeparator + sparkCp, "org.apache.spark.deploy.SparkSubmit",
                "--master", master, "--deploy-mode", "client", "--class", "org.livetrain.cli.LiveTrain",
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.ui.enabled=false",
                "--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=2", "--conf", "spark.executor.memory=1500m",
                "--conf", "spark.executor.extraClassPath=" + appClasses, "--conf", "spark.executor.extraJavaOptions=" + flags,
                "--conf", "spark.executorEnv.OMP_NUM_THREADS=1", "--conf", "spark.executorEnv.SPARK_LOCAL_IP=127.0.0.1",
                app.toString(), "train", "--trainer", "byteps", "--workers", "2", "--epochs", "2", "--eval-every", "20",
                "--checkpoint-dir", ckpt.toString()), sparkHome);
        long killedAfter = killAnExecutorAfterTheFirstCheckpoint(ckpt, submit);
        boolean done = submit.waitFor(8, TimeUnit.MINUTES);
        String log = Files.readString(dir.resolve("submit.log"));
        assertTrue(done, "the job finished in time:\n" + tail(log));
        assertEquals(0, submit.exitValue(), tail(log));
        assertTrue(log.contains("on 2 workers (" + master + ")"), tail(log));
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Pointer best = store.best().orElseThrow();
        assertTrue(best.devAccuracy() > 0.9, "dev accuracy " + best.devAccuracy());
        assertTrue(Pattern.compile("attempt 1 failed \\(.+\\); attempt 2 resumes from step \\d+").matcher(log).find(), tail(log));
        List<HistoryEntry> history = store.newestRun().orElseThrow().history();
        assertEquals(126, history.get(history.size() - 1).step(), "the run trained to its end");
        assertTrue(history.stream().anyMatch(h -> h.step() <= killedAfter) && history.stream().anyMatch(h -> ((Number) h.meta().stats().get("attempt")).intValue() == 1),
                "checkpoints from before the kill and from the second attempt: " + history);
        double bestSoFar = -1;
        for (HistoryEntry h : history) {
            if (h.best()) {
                assertTrue(h.meta().devAccuracy() > bestSoFar, "the best never moves back: " + history);
                bestSoFar = h.meta().devAccuracy();
            }
        }
        assertEquals(bestSoFar, best.devAccuracy());
        System.out.printf("[executor killed] after the checkpoint of step %d; %s; checkpoints at %s%n", killedAfter,
                log.lines().filter(l -> l.contains("attempt 1 failed")).findFirst().orElse(""), history.stream().map(h -> h.step() + "").toList());
        assertEquals(true, store.newestRun().orElseThrow().history().get(0).meta().stats().get("native_kernels"),
                "the executors switched ND4J's native kernels on as they started (the plugin; their JVM options do not)");
        // the work ran in two executor JVMs, one under each Worker
        for (int i = 1; i <= 2; i++) {
            try (var s = Files.walk(dir.resolve("worker-" + i))) {
                assertTrue(s.anyMatch(p -> p.getFileName().toString().equals("stderr")), "worker " + i + " launched an executor");
            }
        }
    }

    /**
     * Waits for the run's first checkpoint, then kills one executor JVM (a child of a Worker) with SIGKILL;
     * returns the step of the newest checkpoint at that moment.
     */
    static long killAnExecutorAfterTheFirstCheckpoint(Path ckpt, Process submit) throws Exception {
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (System.nanoTime() < deadline && submit.isAlive()) {
            List<HistoryEntry> h = List.of();
            try {
                Optional<RunStore> run = Files.isDirectory(ckpt.resolve("runs")) ? store.newestRun() : Optional.empty();
                if (run.isPresent()) h = run.get().history();
            } catch (RuntimeException beingWritten) {
                // read again in a moment
            }
            if (!h.isEmpty()) {
                ProcessHandle executor = processes.stream().flatMap(Process::descendants)
                        .filter(p -> p.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend")).findFirst()
                        .orElseThrow(() -> new AssertionError("no executor JVM under the Workers"));
                assertTrue(executor.destroyForcibly(), "SIGKILL sent");
                executor.onExit().get(30, TimeUnit.SECONDS);
                return h.get(h.size() - 1).step();
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no checkpoint before the job ended or in 5 minutes:\n" + tail(Files.readString(dir.resolve("submit.log"))));
    }

    static String tail(String log) {
        String[] lines = log.split("\n");
        return String.join("\n", Arrays.copyOfRange(lines, Math.max(0, lines.length - 40), lines.length));
    }
}
