package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.logging.log4j.Level;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.jobs.byteps.BytePSTrainer;
import org.livetrain.jobs.byteps.Faults;
import org.livetrain.store.CheckpointStore;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A summation-server shard dies in the middle of a round (test hook: the dedicated server drops every
 * connection as soon as round 30 is pushed): the workers' round fails at once rather than after the
 * round timeout, Spark retries the barrier stage, which resumes from the latest checkpoint, and the
 * run finishes.
 */
@Tag("slow")
class ServerFailureTest {
    @TempDir
    Path dir;

    @Test
    void aServerShardThatDiesMidRoundFailsTheStageWhichIsRetriedAndTrainingFinishes() {
        Path ckpt = dir.resolve("ckpt");
        long t0 = System.nanoTime();
        Cli r;
        List<String> lostTasks;
        try (LogCapture spark = LogCapture.of("org.apache.spark.scheduler.TaskSetManager", Level.WARN)) { // the failures as Spark's UI shows them
            r = Cli.run("train", "--servers", "1", "--epochs", "1", "--eval-every", "20", "--checkpoint-dir", ckpt.toString(),
                    "--conf", Faults.enable(), "--conf", Faults.KILL_SERVER_IN_ROUND + "=30");
            lostTasks = spark.lines();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        // both workers run in this JVM: a local group, whose leader alone talks to the servers. Its failure names the
        // group by run and attempt, never by the job's secret token (48 hex digits)
        Matcher attempt = Pattern.compile("attempt 1 failed \\((.+)\\); attempt 2 resumes").matcher(r.out());
        assertTrue(attempt.find(), r.out());
        assertTrue(attempt.group(1).contains("local group 0 of run "), attempt.group(1));
        Pattern token = Pattern.compile("[0-9a-f]{48}");
        for (String said : Stream.concat(Stream.of(r.out(), r.err()), lostTasks.stream()).toList()) {
            assertFalse(token.matcher(said).find(), "the job's token in: " + said);
        }
        var history = CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().history();
        List<Long> steps = history.stream().map(h -> h.step()).toList();
        assertEquals(List.of(20L, 40L, 60L, 63L), steps, "the retried stage resumed from step 20 and finished the epoch");
        List<Integer> attempts = history.stream().map(h -> h.meta().stat("attempt").intValue()).toList();
        assertEquals(List.of(0, 1, 1, 1), attempts, "step 20 came from the first attempt, the rest from the retry");
        // the round timeout is 120 s: a run that waited for it would take longer than that
        assertTrue(seconds < BytePSTrainer.TIMEOUT.toSeconds(), "the failure was noticed at once, not by a timeout: " + seconds + " s");
    }
}
