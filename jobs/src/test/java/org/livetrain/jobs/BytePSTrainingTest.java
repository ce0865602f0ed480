package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.jobs.byteps.Faults;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.HistoryEntry;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The BytePS trainer in Spark local[2]: one barrier stage of two workers with colocated summation
 * servers. A worker fails once mid-epoch (the test hook); Spark retries the stage, which resumes from
 * latest.json and finishes; then --resume continues the run for another epoch.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Tag("slow")
class BytePSTrainingTest {
    @TempDir
    static Path dir;

    static List<Long> steps(List<HistoryEntry> history) {
        return history.stream().map(n -> n.step()).toList();
    }

    @Test
    @Order(1)
    void aFailedWorkerMakesTheStageRetryAndResumeFromLatest() { // from shards on local disk: each retried worker reads its shard again and skips to the step
        Path ckpt = dir.resolve("ckpt");
        Cli r = Cli.run("train", "--trainer", "byteps", "--epochs", "1", "--eval-every", "20", "--checkpoint-dir", ckpt.toString(),
                "--conf", Faults.enable(), "--conf", Faults.FAIL_AT_STEP + "=45", "--conf", "spark.livetrain.shardMemory=8m");
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("byteps: 2 workers, 2 colocated summation servers, 63 steps per epoch of global batch 128"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        List<HistoryEntry> history = store.newestRun().orElseThrow().history();
        // evaluations at 20 and 40; worker 1 fails at 45; the retried stage resumes from step 40
        assertEquals(List.of(20L, 40L, 60L, 63L), steps(history), "the retry resumed from latest, not from scratch");
        double bestSoFar = -1;
        for (HistoryEntry n : history) {
            if (n.best()) {
                assertTrue(n.meta().devAccuracy() > bestSoFar, "best never regresses");
                bestSoFar = n.meta().devAccuracy();
            }
        }
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertEquals(bestSoFar, best.meta().devAccuracy());
        assertTrue(Pattern.compile("attempt 1 failed \\(.+\\); attempt 2 resumes from step 40\n").matcher(r.out()).find(), r.out());
        assertTrue(best.meta().devAccuracy() > 0.9, "dev accuracy " + best.meta().devAccuracy());
        assertEquals("byteps", best.meta().origin().trainer());
        var stats = best.meta().stats();
        assertEquals(2, ((Number) stats.get("servers")).intValue());
        assertEquals(262144, ((Number) stats.get("partition_bytes")).intValue());
        assertEquals(Boolean.TRUE, stats.get("shard_on_disk"), "a shard larger than spark.livetrain.shardMemory trains from local disk");
        long pushed = ((Number) stats.get("bytes_pushed_per_step")).longValue();
        assertTrue(pushed > 431_080 * 4 && pushed < 431_080 * 4 * 1.05, "one LeNet gradient per step, framed: " + pushed);
        double share = ((Number) stats.get("push_pull_share")).doubleValue();
        assertTrue(share > 0 && share < 1, "push/pull share " + share);
        double computeMs = ((Number) stats.get("step_ms")).doubleValue() * (1 - share);
        double sd = ((Number) stats.get("compute_sd_ms")).doubleValue();
        assertTrue(sd > 0 && sd < computeMs, "compute time varies by " + sd + " ms around " + computeMs + " ms");
        assertTrue(r.out().contains("test accuracy"), r.out());
    }

    @Test
    @Order(2)
    void resumeContinuesFromTheLatestCheckpoint() {
        Path ckpt = dir.resolve("ckpt");
        Cli r = Cli.run("train", "--trainer", "byteps", "--epochs", "2", "--eval-every", "40", "--checkpoint-dir", ckpt.toString(), "--resume");
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("resuming run ") && r.out().contains(" from step 63 of 126"), r.out());
        List<Long> steps = steps(CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().history());
        assertEquals(List.of(20L, 40L, 60L, 63L, 80L, 120L, 126L), steps);
        assertTrue(!r.out().contains("step 20 "), "only the new evaluations are printed: " + r.out());
    }

    @Test
    @Order(3)
    void asynchronousTrainingLearns() {
        Path ckpt = dir.resolve("async");
        Cli r = Cli.run("train", "--trainer", "byteps", "--async", "--learning-rate", "0.001", "--epochs", "1", "--eval-every", "30",
                "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("asynchronous (servers hold the weights)"), r.out());
        Checkpoint best = CheckpointStore.open(ckpt.toString(), new Configuration()).load(
                CheckpointStore.open(ckpt.toString(), new Configuration()).best().orElseThrow(), false);
        assertEquals(Boolean.TRUE, best.meta().stats().get("async"));
        assertTrue(best.meta().devAccuracy() > 0.9, "dev accuracy " + best.meta().devAccuracy());
    }

    @Test
    @Order(4)
    void dedicatedServerTasks() {
        Path ckpt = dir.resolve("dedicated");
        Cli r = Cli.run("train", "--trainer", "byteps", "--servers", "1", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("2 workers, 1 dedicated summation server(s)"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertEquals(1, ((Number) best.meta().stats().get("servers")).intValue());
        assertEquals(Boolean.FALSE, best.meta().stats().get("colocated"));
        assertTrue(best.meta().devAccuracy() > 0.9, "dev accuracy " + best.meta().devAccuracy());
    }

    /** With Spark's authentication and network encryption on, the summation service is keyed by Spark's secret and encrypted, and trains as well. */
    @Test
    @Order(5)
    void withSparksAuthenticationAndEncryptionTheServiceIsKeyedAndEncrypted() {
        Path ckpt = dir.resolve("encrypted");
        Cli r = Cli.run("train", "--trainer", "byteps", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", ckpt.toString(),
                "--conf", "spark.authenticate=true", "--conf", "spark.network.crypto.enabled=true");
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("summation service keyed by Spark's secret, AES-GCM encrypted"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertEquals(Boolean.TRUE, best.meta().stats().get("encrypted"));
        assertTrue(best.meta().devAccuracy() > 0.9, "dev accuracy " + best.meta().devAccuracy());
    }
}
