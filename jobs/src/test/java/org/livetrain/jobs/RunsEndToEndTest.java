package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.LoadedModel;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.HistoryEntry;
import org.livetrain.store.RunInfo;
import org.livetrain.store.RunStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A checkpoint directory used again and again, as people do: runs that follow each other (both trainers),
 * serving that moves to a later run only when it is better, a driver killed with SIGKILL and resumed, a
 * second run refused while one trains, an error no retry can fix that ends the run at once, `runs` and a
 * report over several runs.
 */
@Tag("slow")
class RunsEndToEndTest {
    @TempDir
    Path dir;

    static CheckpointStore store(Path ckpt) {
        return CheckpointStore.open(ckpt.toString(), new Configuration());
    }

    static List<Long> steps(RunStore run) {
        return run.history().stream().map(h -> h.step()).toList();
    }

    static List<JsonNode> runsJson(Path ckpt) throws Exception {
        Cli r = Cli.run("runs", "--checkpoint-dir", ckpt.toString(), "--json");
        assertEquals(0, r.exitCode(), r.err());
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> out = new ArrayList<>();
        for (String line : r.out().lines().toList()) out.add(json.readTree(line));
        return out;
    }

    static void awaitEvaluations(RunStore run, int n, long seconds) throws InterruptedException {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            try {
                if (run.history().size() >= n) return;
            } catch (RuntimeException ignored) {
                // the history is replaced atomically; a failed read is retried
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no " + n + " evaluations within " + seconds + " s");
    }

    /**
     * Two BytePS runs in one directory. While the second trains, a reader keeps answering with the first
     * run's best until the second publishes a better checkpoint; then `runs` and `report` show both.
     */
    @Test
    void aSecondRunTakesOverServingOnlyWithABetterCheckpoint() throws Exception {
        Path ckpt = dir.resolve("byteps");
        Cli first = Cli.run("train", "--model", "mlp", "--epochs", "1", "--eval-every", "30", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, first.exitCode(), () -> first.out() + first.err());
        assertTrue(first.out().contains(", the first in " + ckpt), first.out());
        RunStore run1 = store(ckpt).runs().get(0);
        double firstBest = run1.best().orElseThrow().devAccuracy();

        List<String> served = new CopyOnWriteArrayList<>();
        AtomicBoolean done = new AtomicBoolean();
        Cli second;
        try (BestModelService reader = new BestModelService(store(ckpt), Duration.ofMillis(50))) {
            Thread watch = new Thread(() -> {
                String last = null;
                while (!done.get()) {
                    LoadedModel m = reader.current().orElseThrow();
                    String now = m.run() + "@" + m.step() + "=" + m.devAccuracy();
                    if (!now.equals(last)) served.add(last = now);
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            watch.start();
            second = Cli.run("train", "--epochs", "1", "--eval-every", "10", "--checkpoint-dir", ckpt.toString());
            Thread.sleep(300);
            done.set(true);
            watch.join();
        }
        assertEquals(0, second.exitCode(), () -> second.out() + second.err());
        assertTrue(second.out().contains(ckpt + " has 1 earlier run (best: step ") && second.out().contains(" of run " + run1.id() + ", dev accuracy ")
                && second.out().contains("; this is run 2, "), second.out());
        RunStore run2 = store(ckpt).runs().get(1);
        List<HistoryEntry> h2 = run2.history();
        assertFalse(h2.get(0).best(), "step 10 of the new run is worse than the first run's best: " + h2.get(0));
        assertTrue(h2.get(0).runBest());
        HistoryEntry takeOver = h2.stream().filter(h -> h.best()).findFirst().orElseThrow(() -> new AssertionError(h2.toString()));
        assertTrue(takeOver.meta().devAccuracy() > firstBest, takeOver.toString());

        // what the reader answered with: the first run's best, then only better checkpoints of the second run
        assertTrue(served.get(0).startsWith(run1.id() + "@"), served.toString());
        double lastAccuracy = 0;
        for (String s : served) {
            double acc = Double.parseDouble(s.substring(s.indexOf('=') + 1));
            assertTrue(acc > lastAccuracy, "serving only ever moves to a better model: " + served);
            lastAccuracy = acc;
        }
        assertTrue(served.get(served.size() - 1).startsWith(run2.id() + "@"), served.toString());
        assertTrue(served.size() >= 2 && served.stream().skip(1).allMatch(s -> s.startsWith(run2.id() + "@")), served.toString());

        Cli table = Cli.run("runs", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, table.exitCode(), table.err());
        List<String> lines = table.out().lines().toList();
        assertTrue(lines.get(0).startsWith("2 runs in " + ckpt + "; serving step " + run2.best().orElseThrow().step() + " of run " + run2.id()), table.out());
        assertTrue(lines.get(2).matches("1 +" + run1.id() + " +finished +byteps +digits +mlp +63 +0\\.\\d{4} \\(step \\d+\\) +0\\.\\d{4} +00:\\d\\d"), lines.get(2));
        assertTrue(lines.get(3).matches("\\* 2 +" + run2.id() + " +finished +byteps +digits +lenet +63 .*"), lines.get(3));
        List<JsonNode> json = runsJson(ckpt);
        assertEquals(List.of(run1.id(), run2.id()), json.stream().map(j -> j.get("id").asText()).toList());
        assertTrue(json.get(1).get("serving").asBoolean() && json.get(1).get("test_accuracy").asDouble() > 0.8, json.toString());

        Path out = dir.resolve("report");
        Cli report = Cli.run("report", "--checkpoint-dir", ckpt.toString(), "--out", out.toString());
        assertEquals(0, report.exitCode(), report.err());
        String html = Files.readString(out.resolve("index.html"));
        assertTrue(html.contains("2 run(s), " + (run1.history().size() + h2.size()) + " evaluation(s)"), html);
        assertTrue(html.contains("<td>" + run1.id() + "</td>") && html.contains("<td>" + run2.id() + "</td>"), "a table of both runs");
        assertTrue(html.contains(run1.id() + ": byteps mlp, 2x64, lr 0.002, 1 epoch(s)") && html.contains(run2.id() + ": byteps lenet, 2x64, lr 0.002, 1 epoch(s)"),
                "each run labelled with its settings");
        Cli one = Cli.run("report", "--checkpoint-dir", ckpt.toString(), "--out", dir.resolve("one").toString(), "--runs", run1.id());
        assertEquals(0, one.exitCode(), one.err());
        assertTrue(Files.readString(dir.resolve("one/index.html")).contains("1 run(s), " + run1.history().size() + " evaluation(s)"));
        Cli none = Cli.run("report", "--checkpoint-dir", ckpt.toString(), "--runs", "nope");
        assertEquals(2, none.exitCode());
        assertTrue(none.err().contains("--runs nope: " + ckpt + " has no such run (it has " + run1.id() + ", " + run2.id() + ")"), none.err());
    }

    /**
     * DL4J's own trainers (parameter averaging; gradient sharing over Aeron) twice in one directory and one
     * JVM, then --resume of the newest run with a larger --epochs. Each run's model learned (the driver's
     * copy is the one published) and is served.
     */
    @ParameterizedTest
    @ValueSource(strings = {"averaging", "shared"})
    void dl4jsTrainersRunAgainAndResume(String trainer) throws Exception {
        Path ckpt = dir.resolve(trainer);
        for (int i = 0; i < 2; i++) {
            Cli r = Cli.run("train", "--trainer", trainer, "--epochs", "1", "--checkpoint-dir", ckpt.toString());
            assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        }
        List<RunStore> runs = store(ckpt).runs();
        assertEquals(2, runs.size());
        for (RunStore run : runs) {
            assertEquals(List.of(63L), steps(run));
            double dev = run.history().get(0).meta().devAccuracy();
            assertTrue(dev > 0.85, trainer + " learned: dev accuracy " + dev);
            assertEquals(trainer, run.history().get(0).meta().origin().trainer());
        }

        Cli again = Cli.run("train", "--resume", "--checkpoint-dir", ckpt.toString());
        assertEquals(2, again.exitCode());
        assertEquals("livetrain train: --resume " + runs.get(1).id() + ": the run already finished its 1 epoch(s) at step 63; give a larger --epochs to train it further",
                again.err().strip());

        Cli resumed = Cli.run("train", "--resume", "--epochs", "2", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, resumed.exitCode(), () -> resumed.out() + resumed.err());
        assertTrue(resumed.out().contains("resuming run " + runs.get(1).id() + " from step 63 of 126"), resumed.out());
        assertTrue(resumed.out().contains("training lenet with the " + trainer + " trainer"), "the run's own trainer: " + resumed.out());
        assertEquals(List.of(63L, 126L), steps(runs.get(1)));
        HistoryEntry h = runs.get(1).history().get(1);
        assertEquals(2, h.meta().epoch());
        assertTrue(h.meta().elapsedSeconds() > runs.get(1).history().get(0).meta().elapsedSeconds(),
                "training time goes on across the resumption");
        assertEquals(List.of(RunInfo.FINISHED, RunInfo.FINISHED), runsJson(ckpt).stream().map(j -> j.get("state").asText()).toList());
        assertEquals(2, runs.get(1).info().orElseThrow().number());
    }

    /**
     * A second run refuses while the first trains (naming it); the first is killed with SIGKILL, shows as
     * interrupted, and --resume takes over its stale lock and finishes it.
     */
    @Test
    void aConcurrentRunIsRefusedAndAKilledRunIsResumed() throws Exception {
        Path ckpt = dir.resolve("killed");
        String[] train = {"train", "--epochs", "3", "--eval-every", "20", "--checkpoint-dir", ckpt.toString()};
        RunStore run;
        try (ChildJvm child = ChildJvm.start(dir.resolve("logs"), "train", List.of(), train)) {
            long end = System.nanoTime() + 300_000_000_000L;
            while (store(ckpt).runs().isEmpty() && System.nanoTime() < end) Thread.sleep(100);
            run = store(ckpt).runs().get(0);
            awaitEvaluations(run, 2, 300);

            long t0 = System.nanoTime();
            Cli refused = Cli.run("train", "--checkpoint-dir", ckpt.toString());
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(2, refused.exitCode(), () -> refused.out() + refused.err());
            assertTrue(refused.err().strip().matches("livetrain train: --checkpoint-dir " + Pattern.quote(ckpt.toString()) + ": run "
                    + run.id() + " \\(pid " + child.process.pid() + " on \\S+, started \\S+\\) is training here; wait for it to end or use another checkpoint directory.*"),
                    refused.err());
            assertTrue(seconds < 10, "refused at start: " + seconds + " s");
            assertEquals(1, store(ckpt).runs().size(), "the refused run left nothing behind");
            child.kill();
        }
        assertEquals(RunInfo.INTERRUPTED, runsJson(ckpt).get(0).get("state").asText());
        long latest = run.latest().orElseThrow().step();

        Cli resumed = Cli.run("train", "--resume", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, resumed.exitCode(), () -> resumed.out() + resumed.err());
        assertTrue(resumed.out().contains("took over the lock of run " + run.id() + " (pid "), resumed.out());
        assertTrue(resumed.out().contains("resuming run " + run.id() + " from step " + latest + " of 189"), resumed.out());
        List<Long> steps = steps(run);
        for (int i = 1; i < steps.size(); i++) assertTrue(steps.get(i) > steps.get(i - 1), "one history, going forward: " + steps);
        assertEquals(189L, steps.get(steps.size() - 1));
        JsonNode only = runsJson(ckpt).get(0);
        assertEquals(1, runsJson(ckpt).size());
        assertEquals(RunInfo.FINISHED, only.get("state").asText());
        assertEquals(189, only.get("steps").asLong());
    }

    /** A best.json turned into garbage while a run trains: the run stops at its next publication, at once, without a retry. */
    @Test
    void anErrorNoRetryCanFixEndsTheRunAtOnceWithoutAStageRetry() throws Exception {
        Path ckpt = dir.resolve("garbage");
        Cli r = FailFast.trainThenDamage(ckpt.toString(), () -> {
            try {
                Files.writeString(ckpt.resolve("best.json"), "{\"step\": 1, \"path\": ");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertTrue(r.err().strip().matches("livetrain train: \\S+/garbage/best.json: not a valid checkpoint pointer \\(.*\\)"), r.err());
        RunInfo info = store(ckpt).runs().get(0).info().orElseThrow();
        assertEquals(RunInfo.FAILED, info.state());
        assertTrue(info.error().contains("best.json: not a valid checkpoint pointer"), info.error());
        assertFalse(Files.exists(ckpt.resolve("lock.json")), "the lock is released");
    }

    /**
     * Files added to a folder between a run's start and its resumption are left out (the run's manifest froze its
     * listing), and said; a listed file gone refuses the resumption in one line.
     */
    @Test
    void aResumedRunKeepsTheExamplesItListed() throws Exception {
        FileSystem local = FileSystem.getLocal(new Configuration()).getRaw();
        org.apache.hadoop.fs.Path images = new org.apache.hadoop.fs.Path(dir.resolve("images").toUri());
        DigitFiles.write(local, images, 600);
        String ckpt = dir.resolve("grown").toString();
        Cli first = Cli.run("train", "--data", "folder:" + images, "--epochs", "1", "--run-name", "r1", "--checkpoint-dir", ckpt);
        assertEquals(0, first.exitCode(), () -> first.out() + first.err());
        RunStore r1 = CheckpointStore.open(ckpt, new Configuration()).run("r1");
        assertEquals(600, r1.manifest().orElseThrow().keys().size(), "the run froze its listing");
        RunInfo before = r1.info().orElseThrow();
        for (int i = 0; i < 3; i++) Files.copy(Path.of(System.getProperty("livetrain.repo", "..")).resolve("data/demo/seven.png"), dir.resolve("images/7/added-" + i + ".png"));
        Cli resumed = Cli.run("train", "--data", "folder:" + images, "--epochs", "2", "--resume", "r1", "--checkpoint-dir", ckpt);
        assertEquals(0, resumed.exitCode(), () -> resumed.out() + resumed.err());
        assertTrue(resumed.out().contains("--data folder:" + images + ": 3 examples added since run r1 started are left out: a resumed run trains on the examples it listed"),
                resumed.out());
        RunInfo after = r1.info().orElseThrow();
        assertEquals(before.settings().get("split"), after.settings().get("split"));
        assertEquals(((Map<?, ?>) before.settings().get("data_check")).get("checked"), ((Map<?, ?>) after.settings().get("data_check")).get("checked"),
                "the same examples were checked and trained on");

        String gone = r1.manifest().orElseThrow().keys().get(0);
        Files.delete(dir.resolve("images").resolve(gone));
        Cli refused = Cli.run("train", "--data", "folder:" + images, "--epochs", "3", "--resume", "r1", "--checkpoint-dir", ckpt);
        assertEquals(2, refused.exitCode(), () -> refused.out() + refused.err());
        assertEquals("livetrain train: --resume r1: 1 of the 600 examples it listed are gone from folder:" + images + " (" + gone + "); it cannot go on with the same"
                + " examples: start a new run (--init-from its best model keeps what it learned)", refused.err().strip());
    }
}
