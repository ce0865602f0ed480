package org.livetrain.jobs;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The real command line in a separate JVM (the test's own class path, the Java 17 flags and the log
 * configuration Maven passes, the test's environment), for faults that kill a process: halts and
 * {@code kill -9}. Standard output and error go to files.
 */
final class ChildJvm implements AutoCloseable {
    final Process process;
    final Path out, err;

    private ChildJvm(Process process, Path out, Path err) {
        this.process = process;
        this.out = out;
        this.err = err;
    }

    static ChildJvm start(Path logs, String name, List<String> systemProperties, String... args) throws IOException {
        return main(logs, name, null, systemProperties, "", "org.livetrain.cli.LiveTrain", args);
    }

    /**
     * Any main class, in {@code workDir} (null: this one's), with {@code classes} (a path or "") ahead of the
     * test's class path.
     */
    static ChildJvm main(Path logs, String name, Path workDir, List<String> systemProperties, String classes, String mainClass, String... args) throws IOException {
        Files.createDirectories(logs);
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx3g");
        for (String f : System.getProperty("livetrain.java17.flags", "").trim().split("\\s+")) if (!f.isEmpty()) cmd.add(f);
        String log4j = System.getProperty("log4j2.configurationFile");
        if (log4j != null) cmd.add("-Dlog4j2.configurationFile=" + log4j);
        for (String p : systemProperties) cmd.add("-D" + p);
        cmd.add("-cp");
        cmd.add((classes.isEmpty() ? "" : classes + File.pathSeparator) + System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        Path out = logs.resolve(name + ".out"), err = logs.resolve(name + ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
        if (workDir != null) pb.directory(workDir.toFile());
        return new ChildJvm(pb.start(), out, err);
    }

    int waitFor(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("the child JVM did not finish within " + seconds + " s; " + output());
        }
        return process.exitValue();
    }

    /** SIGKILL: no shutdown hook, no flush, no clean-up. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    String output() {
        try {
            return "stdout:\n" + Files.readString(out) + "\nstderr:\n" + Files.readString(err);
        } catch (IOException e) {
            return "(no output: " + e + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) kill();
    }
}
