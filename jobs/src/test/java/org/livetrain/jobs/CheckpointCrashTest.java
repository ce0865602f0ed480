package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.jobs.byteps.Faults;
import org.livetrain.serving.BestModelService;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training process dies (halts, as under kill -9) after writing the checkpoint of step 100 and before
 * publishing its pointer: readers keep the previous best, and --resume continues from the previous
 * latest and finishes.
 */
@Tag("slow")
class CheckpointCrashTest {
    @TempDir
    Path dir;

    @Test
    void aCheckpointWrittenButNotPublishedIsNeverServedAndResumeContinuesFromTheLatest() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        String[] train = {"train", "--epochs", "2", "--eval-every", "50", "--checkpoint-dir", ckpt.toString()};
        try (ChildJvm child = ChildJvm.start(dir.resolve("logs"), "train", List.of(),
                append(train, "--conf", Faults.enable(), "--conf", Faults.HALT_BEFORE_POINTER + "=100"))) {
            assertEquals(137, child.waitFor(300), child.output());
        }
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        RunStore run = store.newestRun().orElseThrow();
        assertTrue(Files.isRegularFile(ckpt.resolve("runs").resolve(run.id()).resolve("checkpoints/step-100/model.zip")), "step 100 was written before the halt");
        Pointer latest = store.latest().orElseThrow(), best = store.best().orElseThrow();
        assertEquals(63, latest.step(), "latest still names the end of epoch 1");
        assertTrue(best.step() == 50 || best.step() == 63, "best names a published step: " + best.step());

        try (BestModelService service = new BestModelService(store, Duration.ofHours(1))) {
            assertEquals(best.step(), service.current().orElseThrow().step(), "readers serve the previous best");
        }

        Cli r = Cli.run(append(train, "--resume"));
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("took over the lock of run " + run.id()), r.out());
        assertTrue(r.out().contains("resuming run " + run.id() + " from step 63"), r.out());
        List<Long> steps = run.history().stream().map(h -> h.step()).toList();
        assertEquals(List.of(50L, 63L, 100L, 126L), steps, "step 100 published once, by the resumed run");
        assertEquals(126, store.latest().orElseThrow().step());
    }

    static String[] append(String[] a, String... more) {
        String[] out = Arrays.copyOf(a, a.length + more.length);
        System.arraycopy(more, 0, out, a.length, more.length);
        return out;
    }
}
