package org.livetrain.serving;

import org.apache.hadoop.conf.Configuration;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
import org.livetrain.image.Profile;
import org.livetrain.image.Shape;
import org.livetrain.io.ImageFiles;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
class BestModelServiceTest {
    static final Configuration CONF = new Configuration();
    static final List<String> DIGITS = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    @TempDir
    Path dir;

    static Network net(long seed) {
        return Models.create(Models.Kind.MLP, new Shape(28, 28, 1), 10, 1e-3, seed);
    }

    static final InputContract INPUT = InputContract.of(new Shape(28, 28, 1), Profile.DIGIT, DIGITS);

    static CheckpointMeta meta(long step, double acc) {
        return CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, 1, acc, 0.1, 0.1), new CheckpointMeta.Origin("test", 1, "digits", "mlp", null),
                new CheckpointMeta.Timing(1, 1), Map.of());
    }

    /** A training run writing into a checkpoint directory. */
    static RunStore writer(Path ckpt) {
        return CheckpointStore.create(ckpt.toString(), CONF).newRun("r1", Map.of("trainer", "test", "data", "digits", "model", "mlp"), null, 5, null);
    }

    Path image() {
        Path p = dir.resolve("seven.png");
        Mat m = new Mat(100, 100, CV_8UC1,
                new Scalar(0.0));
        org.bytedeco.opencv.global.opencv_imgproc.line(m, new Point(20, 20),
                new Point(80, 80), new Scalar(255.0), 8, 8, 0);
        org.bytedeco.opencv.global.opencv_imgcodecs.imwrite(p.toString(), m);
        return p;
    }

    @Test
    void betterCheckpointIsSwappedInAndACorruptOneIsRefused() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        RunStore writer = writer(ckpt);
        try (BestModelService service = new BestModelService(CheckpointStore.open(ckpt.toString(), CONF), Duration.ofHours(1))) {
            List<String> events = new CopyOnWriteArrayList<>();
            service.onEvent(events::add);
            Scorer scorer = new Scorer(service, ImageFiles.anywhere(ImageFiles.DEFAULT_MAX_BYTES), ImagePreprocessor.DEFAULT_MAX_PIXELS, () -> "not yet");
            Path img = image();

            ScoreRecord none = scorer.score("a", img);
            assertNull(none.prediction());
            assertEquals("no model is ready yet: not yet", none.error());

            writer.publish(net(1), INPUT, meta(10, 0.5));
            ScoreRecord first = scorer.score("b", img); // the scorer looks for a model when it has none
            assertEquals(10L, first.modelStep());
            assertEquals(3, first.top().size());

            writer.publish(net(2), INPUT, meta(20, 0.7));
            service.poll();
            ScoreRecord second = scorer.score("c", img);
            assertEquals(20L, second.modelStep(), "the next prediction reports the new step");
            assertEquals(0.7, second.modelValAccuracy());
            assertTrue(events.stream().anyMatch(e -> e.contains("new best model: step 20 of run r1")), events.toString());

            // a better checkpoint whose model.zip is damaged: refused, step 20 keeps answering
            writer.publish(net(3), INPUT, meta(30, 0.9));
            Path zip = ckpt.resolve("runs/r1/checkpoints/step-30/model.zip");
            byte[] b = Files.readAllBytes(zip);
            b[100] ^= 0x33;
            Files.write(zip, b);
            service.poll();
            service.poll();
            ScoreRecord third = scorer.score("d", img);
            assertEquals(20L, third.modelStep());
            assertNull(third.error());
            long refusals = events.stream().filter(e -> e.startsWith("refused checkpoint") && e.contains("checksum mismatch")).count();
            assertEquals(1, refusals, "refused and said once: " + events);
            assertTrue(events.stream().anyMatch(e -> e.contains("still serving step 20")), events.toString());
        }
    }

    /** A model.zip missing for a moment (a copy under way, storage that did not answer) does not pin the old model for good. */
    @Test
    void aCheckpointThatCouldNotBeReadThisTimeIsTriedAgainUntilItLoads() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        RunStore writer = writer(ckpt);
        writer.publish(net(1), INPUT, meta(10, 0.5));
        try (BestModelService service = new BestModelService(CheckpointStore.open(ckpt.toString(), CONF), Duration.ofHours(1))) {
            List<String> events = new CopyOnWriteArrayList<>();
            service.onEvent(events::add);
            RunStore.Published second = writer.publish(net(2), INPUT, meta(20, 0.6));
            Path zip = ckpt.resolve(second.pointer().path()).resolve("model.zip"), aside = zip.resolveSibling("aside");
            Files.move(zip, aside); // the instant the service looks, the file is not there
            service.poll();
            assertEquals(10L, service.current().orElseThrow().step(), "still the old model while the new one cannot be read");
            Files.move(aside, zip);
            long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (service.current().orElseThrow().step() != 20 && System.nanoTime() < end) {
                Thread.sleep(100);
                service.poll(); // what the poller does every interval; the retry waits 1 s, then 2 s, ...
            }
            assertEquals(20L, service.current().orElseThrow().step(), "the best that best.json names is served once it can be read: " + events);
            assertTrue(events.stream().anyMatch(e -> e.contains("missing") && e.contains("trying again")), events.toString());
        }
    }

    @Test
    void garbagePointerAndAPointerToAMissingCheckpointAreRefusedWhileTheModelKeepsServing() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        RunStore writer = writer(ckpt);
        writer.publish(net(1), INPUT, meta(10, 0.5));
        try (BestModelService service = new BestModelService(CheckpointStore.open(ckpt.toString(), CONF), Duration.ofHours(1))) {
            List<String> events = new CopyOnWriteArrayList<>();
            service.onEvent(events::add);
            Scorer scorer = new Scorer(service, ImageFiles.anywhere(ImageFiles.DEFAULT_MAX_BYTES), ImagePreprocessor.DEFAULT_MAX_PIXELS, () -> "not yet");
            Path img = image();
            assertEquals(10L, scorer.score("a", img).modelStep());
            Path best = ckpt.resolve("best.json");

            Files.writeString(best, "{\"step\": 7, \"path\": ");
            service.poll();
            service.poll();
            ScoreRecord r = scorer.score("b", img);
            assertEquals(10L, r.modelStep());
            assertNull(r.error());
            List<String> refused = events.stream().filter(e -> e.startsWith("refused checkpoint")).toList();
            assertEquals(1, refused.size(), "said once: " + events);
            assertTrue(refused.get(0).contains(best.toUri().getPath().replaceAll("/$", "")) || refused.get(0).contains("best.json"), refused.get(0));
            assertTrue(refused.get(0).contains("not a valid checkpoint pointer") && refused.get(0).contains("still serving step 10"), refused.get(0));

            String missing = Files.readString(ckpt.resolve("latest.json")).replace("checkpoints/step-10", "checkpoints/step-99");
            Files.writeString(best, missing.replace("\"step\" : 10", "\"step\" : 99").replaceAll("\"sha256\" : \"[0-9a-f]+\"", "\"sha256\" : \"" + "0".repeat(64) + "\""));
            service.poll();
            r = scorer.score("c", img);
            assertEquals(10L, r.modelStep());
            assertTrue(events.stream().anyMatch(e -> e.startsWith("refused checkpoint") && e.contains("step-99") && e.contains("still serving step 10")),
                    events.toString());

            // a good checkpoint published afterwards is taken
            writer.publish(net(2), INPUT, meta(20, 0.6));
            service.poll();
            assertEquals(20L, scorer.score("d", img).modelStep());
        }
    }

    /** A better checkpoint whose input contract this server cannot honour is refused; the current model keeps answering. */
    @Test
    void aCheckpointWithAContractTheServerDoesNotUnderstandIsRefused() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        RunStore writer = writer(ckpt);
        writer.publish(net(1), INPUT, meta(10, 0.5));
        try (BestModelService service = new BestModelService(CheckpointStore.open(ckpt.toString(), CONF), Duration.ofHours(1))) {
            List<String> events = new CopyOnWriteArrayList<>();
            service.onEvent(events::add);
            InputContract sepia = new InputContract(1, 28, 28, 1, "sepia", null, null, DIGITS);
            writer.publish(net(2), sepia, meta(20, 0.9));
            service.poll();
            assertEquals(10, service.current().orElseThrow().step(), "still serving step 10");
            assertTrue(events.stream().anyMatch(e -> e.startsWith("refused checkpoint") && e.contains("unknown profile sepia")
                    && e.contains("still serving step 10")), events.toString());
            // a network that does not take the input its contract names
            writer.publish(net(3), InputContract.of(new Shape(32, 32, 1), Profile.OBJECT, DIGITS), meta(30, 0.95));
            service.poll();
            assertEquals(10, service.current().orElseThrow().step());
            assertTrue(events.stream().anyMatch(e -> e.contains("does not take the 32x32 input its contract names")), events.toString());
        }
    }

    @Test
    void backgroundPollingPicksUpANewBest() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        RunStore writer = writer(ckpt);
        writer.publish(net(1), INPUT, meta(1, 0.5));
        try (BestModelService service = new BestModelService(CheckpointStore.open(ckpt.toString(), CONF), Duration.ofMillis(50))) {
            assertEquals(1, service.current().orElseThrow().step());
            writer.publish(net(2), INPUT, meta(2, 0.6));
            long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (service.current().orElseThrow().step() != 2 && System.nanoTime() < end) Thread.sleep(20);
            assertEquals(2, service.current().orElseThrow().step());
            assertFalse(Files.exists(ckpt.resolve("best.json.tmp")));
        }
    }
}
