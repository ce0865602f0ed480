package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A short real run on the bundled digits: Spark local[2], two workers, parameter averaging. */
class TrainEndToEndTest {
    @TempDir
    Path dir;

    @Test
    void shortRunPublishesBestAndLatestWellAboveChance() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        Cli r = Cli.run("train", "--trainer", "averaging", "--epochs", "1", "--workers", "2", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());

        // what the user reads: one progress line per evaluation, then the test accuracy of the best checkpoint
        Matcher progress = Pattern.compile("epoch 1/1 +step (\\d+) +\\d+ ex/s +train loss [\\d.]+ +dev acc ([\\d.]+) +best ([\\d.]+)").matcher(r.out());
        assertTrue(progress.find(), r.out());
        Matcher test = Pattern.compile("test accuracy ([\\d.]+) on 1000 examples").matcher(r.out());
        assertTrue(test.find(), r.out());
        assertTrue(Double.parseDouble(test.group(1)) > 0.8, "test accuracy " + test.group(1));

        // what serving relies on: the pointers and a loadable, verified best model
        assertTrue(Files.exists(ckpt.resolve("best.json")) && Files.exists(ckpt.resolve("latest.json")));
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Pointer best = store.best().orElseThrow();
        assertEquals(store.latest().orElseThrow(), best);
        assertEquals(Long.parseLong(progress.group(1)), best.step());
        assertTrue(best.devAccuracy() > 0.8, "dev accuracy " + best.devAccuracy());
        Checkpoint cp = store.load(best, true);
        assertEquals("averaging", cp.meta().trainer());
        assertEquals(2, cp.meta().workers());
        assertEquals("digits", cp.meta().data());
        assertEquals(10, cp.meta().classes().size());
        assertEquals(1, store.history().size());
        assertTrue(r.err().isBlank() || !r.err().contains("Exception"), r.err());
    }
}
