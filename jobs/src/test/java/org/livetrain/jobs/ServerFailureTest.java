package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.store.CheckpointStore;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A summation-server shard dies in the middle of a round (test hook: the dedicated server drops every
 * connection as soon as round 30 is pushed): the workers' round fails at once rather than after the
 * round timeout, Spark retries the barrier stage, which resumes from the latest checkpoint, and the
 * run finishes.
 */
class ServerFailureTest {
    @TempDir
    Path dir;

    @Test
    void aServerShardThatDiesMidRoundFailsTheStageWhichIsRetriedAndTrainingFinishes() {
        Path ckpt = dir.resolve("ckpt");
        long t0 = System.nanoTime();
        Cli r = Cli.run("train", "--servers", "1", "--epochs", "1", "--eval-every", "20", "--checkpoint-dir", ckpt.toString(),
                "--conf", Faults.KILL_SERVER_IN_ROUND + "=30");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        var history = CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().history();
        List<Long> steps = history.stream().map(h -> h.step()).toList();
        assertEquals(List.of(20L, 40L, 60L, 63L), steps, "the retried stage resumed from step 20 and finished the epoch");
        List<Integer> attempts = history.stream().map(h -> h.meta().stat("attempt").intValue()).toList();
        assertEquals(List.of(0, 1, 1, 1), attempts, "step 20 came from the first attempt, the rest from the retry");
        // the round timeout is 120 s: a run that waited for it would take longer than that
        assertTrue(seconds < BytePSTrainer.TIMEOUT.toSeconds(), "the failure was noticed at once, not by a timeout: " + seconds + " s");
    }
}
