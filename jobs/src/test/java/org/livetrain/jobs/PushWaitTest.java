package org.livetrain.jobs;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.cli.LiveTrain;
import org.livetrain.kafka.LocalKafkaBroker;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scorer as a user runs it: {@code stream} in the background against a checkpoint directory (the one of
 * {@link CompatibilityTest}), then {@code push --wait}, which prints the answers where the user is, matched by
 * request id, as the prompt does; a topic nobody answers ends it with exit code 1 after {@code --wait-timeout}.
 */
@Tag("slow")
class PushWaitTest {
    @TempDir
    Path dir;

    @Test
    void pushWaitPrintsTheScorersAnswers() throws Exception {
        Path ckpt = CompatibilityTest.copyOfFixture(dir.resolve("checkpoints"));
        Path seven = TrainEndToEndTest.SEVEN.toAbsolutePath().normalize();
        LocalKafkaBroker broker = SharedBroker.get();
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        Thread stream = new Thread(() -> LiveTrain.execute(new String[]{"stream", "--bootstrap-servers", broker.bootstrapServers(),
                        "--input-topic", "wait-in", "--output-topic", "wait-out", "--checkpoint-dir", ckpt.toString(),
                        "--allowed-roots", seven.getParent().toString(), "--stats-every", "0"},
                new ByteArrayInputStream(new byte[0]), new PrintStream(said, true, StandardCharsets.UTF_8), new PrintStream(said, true, StandardCharsets.UTF_8)));
        stream.start();
        try {
            long until = System.nanoTime() + 120_000_000_000L; // the scorer creates its topics as it starts
            while (!said.toString(StandardCharsets.UTF_8).contains("scoring wait-in -> wait-out") && System.nanoTime() < until) Thread.sleep(200);
            assertTrue(said.toString(StandardCharsets.UTF_8).contains("scoring wait-in -> wait-out"), said.toString(StandardCharsets.UTF_8));
            Cli waited = Cli.run("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "wait-in", "--output-topic", "wait-out", "--wait",
                    "--wait-timeout", "120", seven.toString(), seven.resolveSibling("nope.png").toString());
            assertEquals(0, waited.exitCode(), waited.out() + waited.err() + said);
            assertTrue(waited.out().contains(seven + ": Prediction: "), waited.out());
            assertTrue(waited.out().contains("nope.png: Error: ") && waited.out().contains("no such file in the allowed roots"), waited.out());
            Cli unanswered = Cli.run("push", "--bootstrap-servers", broker.bootstrapServers(), "--topic", "nobody-reads", "--output-topic", "wait-out",
                    "--wait", "--wait-timeout", "3", seven.toString());
            assertEquals(1, unanswered.exitCode(), unanswered.out() + unanswered.err());
            assertTrue(unanswered.err().strip().startsWith("livetrain push: no answer within 3 s for 1 request(s) (push-"), unanswered.err());
        } finally {
            stream.interrupt(); // as Ctrl-C would: the command stops its query and Spark
            stream.join(60_000);
        }
    }
}
