package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.image.Profile;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A checkpoint directory written by the LiveTrain of before issue 26 (test resource {@code fixtures/before-issue-26}:
 * the contract in meta.json, run.json and model.zip, class names at meta.json's top) still loads, serves,
 * lists, and takes a new run, with today's LiveTrain.
 */
@Tag("slow")
class CompatibilityTest {
    @TempDir
    Path dir;

    static Path copyOfFixture(Path into) throws IOException {
        Path from = Path.of("src/test/resources/fixtures/before-issue-26/checkpoints").toAbsolutePath();
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path to = into.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        return into;
    }

    @Test
    void aDirectoryWrittenBeforeIssue26IsServedListedAndExtended() throws Exception {
        Path ckpt = copyOfFixture(dir.resolve("checkpoints"));
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertEquals(120, best.meta().step());
        assertEquals(Profile.DIGIT, best.input().profile());
        assertEquals(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), best.input().classes());

        Cli served = Cli.withInput(TrainEndToEndTest.SEVEN.toAbsolutePath() + "\nq\n", "terminal", "--json", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, served.exitCode(), served.err());
        JsonNode answer = new ObjectMapper().readTree(served.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
        assertTrue(answer.get("error").isNull(), answer.toString());
        assertEquals(120, answer.get("model_step").asLong());
        assertEquals("before-26", answer.get("model_run").asText());

        Cli runs = Cli.run("runs", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, runs.exitCode(), runs.err());
        assertTrue(runs.out().contains("before-26  finished  byteps   digits  config:tiny.json"), runs.out());

        Cli trained = Cli.run("train", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, trained.exitCode(), trained.out() + trained.err());
        assertTrue(trained.out().contains("has 1 earlier run (best: step 120 of run before-26, dev accuracy 83.9%); this is run 2"), trained.out());
        assertEquals(2, CheckpointStore.open(ckpt.toString(), new Configuration()).runs().size());
    }
}
