package org.livetrain.store;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;
import org.livetrain.image.InputContract;
import org.livetrain.image.Profile;
import org.livetrain.image.Shape;
import org.livetrain.model.ModelZipTest;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.nd4j.linalg.factory.Nd4j;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
class CheckpointStoreTest {
    static final Configuration CONF = new Configuration();

    @TempDir
    Path dir;

    static Network smallNet(long seed) {
        return Models.create(Models.Kind.MLP, new Shape(8, 8, 1), 3, 1e-3, seed);
    }

    /** The input contract of {@link #smallNet}'s models. */
    static final InputContract INPUT = InputContract.of(new Shape(8, 8, 1), Profile.OBJECT, List.of("a", "b", "c"));

    static CheckpointMeta meta(long step, double devAccuracy) {
        return CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, 1, devAccuracy, 1 - devAccuracy, 0.5),
                new CheckpointMeta.Origin("test", 2, "digits", "mlp", null), new CheckpointMeta.Timing(1.0, 100.0), Map.of("k", 1));
    }

    /** A new run in a checkpoint directory, as the training job starts one. */
    static RunStore newRun(Path dir, int keep) {
        return CheckpointStore.create(dir.toString(), CONF).newRun(null, Map.of("trainer", "test", "data", "digits", "model", "mlp"), null, keep, null);
    }

    @Test
    void aModelThatIsNotFiniteIsNeverWritten() {
        RunStore store = newRun(dir, 10);
        store.publish(smallNet(1), INPUT, meta(1, 0.5));
        Network bad = smallNet(2);
        bad.params().putScalar(3, Float.NaN);
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> store.publish(bad, INPUT, meta(2, 0.9)));
        assertTrue(e.getMessage().endsWith("its parameters are not finite (NaN or infinity)"), e.getMessage());
        assertEquals(1, store.best().orElseThrow().step(), "the best stays the last finite model");
        assertEquals(1, store.history().size());
    }

    @Test
    void bestMovesOnlyToAStrictlyBetterDevAccuracy() {
        RunStore store = newRun(dir, 10);
        Network net = smallNet(1);
        double[] acc = {0.5, 0.7, 0.6, 0.7, 0.8, 0.75};
        long[] bestAfter = {1, 2, 2, 2, 5, 5};
        for (int i = 0; i < acc.length; i++) {
            RunStore.Published p = store.publish(net, INPUT, meta(i + 1, acc[i]));
            assertEquals(bestAfter[i], store.best().orElseThrow().step(), "best after publishing step " + (i + 1));
            assertEquals(i + 1, store.latest().orElseThrow().step());
            assertEquals(bestAfter[i] == i + 1, p.newBest());
        }
        assertEquals(acc.length, store.history().size());
        assertTrue(store.history().get(4).best());
        assertFalse(store.history().get(3).best());
    }

    @Test
    void loadedCheckpointIsTheSavedNetworkWithItsMeta() {
        RunStore store = newRun(dir, 3);
        Network net = smallNet(2);
        store.publish(net, INPUT, meta(7, 0.9));
        Checkpoint cp = CheckpointStore.open(dir.toString(), CONF).load(store.best().orElseThrow(), true);
        assertEquals(net.params(), cp.network().params());
        assertEquals(7, cp.meta().step());
        assertEquals(0.9, cp.meta().devAccuracy());
        assertEquals(List.of("a", "b", "c"), cp.input().classes());
        assertEquals(64, cp.meta().sha256().length());
        assertTrue(cp.meta().file().modelBytes() > 0);
        assertEquals(store.id(), cp.meta().run());
        assertEquals(store.id(), cp.pointer().run());
        assertEquals("runs/" + store.id() + "/checkpoints/step-7", cp.pointer().path());
    }

    @Test
    void retentionKeepsTheBestAndTheNewestK() throws Exception {
        RunStore store = newRun(dir, 2);
        Network net = smallNet(3);
        double[] acc = {0.5, 0.9, 0.6, 0.7, 0.8, 0.85};
        for (int i = 0; i < acc.length; i++) store.publish(net, INPUT, meta(i + 1, acc[i]));
        assertEquals(List.of(2L, 5L, 6L), store.steps());
        try (Stream<Path> s = Files.list(dir.resolve("runs").resolve(store.id()).resolve("checkpoints"))) {
            assertEquals(3, s.count(), "no temporary directories left behind");
        }
    }

    /** A reader that read best.json a moment before a better checkpoint replaced it can still load what it read. */
    @Test
    void retentionKeepsTheBestThatAPublicationReplacedUntilTheNext() throws Exception {
        RunStore store = newRun(dir, 1);
        Network net = smallNet(3);
        store.publish(net, INPUT, meta(1, 0.9));
        store.publish(net, INPUT, meta(2, 0.5));
        store.publish(net, INPUT, meta(3, 0.95)); // replaces step 1 as the best
        assertEquals(List.of(1L, 3L), store.steps(), "step 1, the best just replaced, is still there");
        store.publish(net, INPUT, meta(4, 0.6));
        assertEquals(List.of(3L, 4L), store.steps(), "and goes with the next publication");
    }

    @Test
    void corruptedModelIsRefusedWithTheFileName() throws Exception {
        RunStore store = newRun(dir, 3);
        store.publish(smallNet(4), INPUT, meta(1, 0.9));
        Path zip = dir.resolve("runs").resolve(store.id()).resolve("checkpoints/step-1/model.zip");
        byte[] b = Files.readAllBytes(zip);
        b[b.length / 2] ^= 0x5a;
        Files.write(zip, b);
        Pointer best = store.best().orElseThrow();
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> store.directory().load(best, false));
        assertTrue(e.getMessage().contains("step-1/model.zip") && e.getMessage().contains("checksum mismatch"), e.getMessage());
    }

    /**
     * Issue 25, point 2: whoever can write the directory plants a preprocessor.bin in a model.zip and writes the
     * matching sha256 into the pointer and meta.json too. The checkpoint is refused as corrupt, in one line,
     * and the planted object's readObject never runs.
     */
    @Test
    void aModelWithAPlantedPreprocessorIsRefusedWithoutDeserializingIt() throws Exception {
        RunStore store = newRun(dir, 3);
        store.publish(smallNet(4), INPUT, meta(1, 0.9));
        Path step = dir.resolve("runs").resolve(store.id()).resolve("checkpoints/step-1");
        byte[] planted = ModelZipTest.with(Files.readAllBytes(step.resolve("model.zip")), "preprocessor.bin", ModelZipTest.serialized(new ModelZipTest.Planted()));
        Files.write(step.resolve("model.zip"), planted);
        String sha = CheckpointStore.sha256(planted), old = store.best().orElseThrow().sha256();
        for (Path f : List.of(step.resolve("meta.json"), dir.resolve("best.json"), dir.resolve("latest.json"))) {
            Files.writeString(f, Files.readString(f).replace(old, sha));
        }
        ModelZipTest.Planted.ran = false;
        Pointer best = CheckpointStore.open(dir.toString(), CONF).best().orElseThrow();
        CorruptCheckpointException e = assertThrows(CorruptCheckpointException.class, () -> store.directory().load(best, false));
        assertTrue(e.getMessage().contains("step-1/model.zip: not a loadable model (an entry preprocessor.bin, which DL4J would read with Java"
                + " deserialization; refusing the model)"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertFalse(ModelZipTest.Planted.ran, "the planted object was deserialized");
    }

    /** Issue 25, point 10: a pointer names a checkpoint of the directory, nothing else (an absolute path, {@code ..}, a URI). */
    @Test
    void aPointerOutsideTheDirectoryIsRefused() throws Exception {
        RunStore store = newRun(dir, 3);
        store.publish(smallNet(4), INPUT, meta(1, 0.9));
        Files.createDirectories(dir.resolve("elsewhere/step-1"));
        String good = Files.readString(dir.resolve("best.json"));
        String path = store.best().orElseThrow().path();
        for (String bad : List.of("/etc", "../elsewhere/step-1", "runs/../../elsewhere/step-1", "file:/etc/checkpoints/step-1",
                "runs/" + store.id() + "/checkpoints/step-1/../../../../elsewhere/step-1")) {
            Files.writeString(dir.resolve("best.json"), good.replace(path, bad));
            CheckpointStore reader = CheckpointStore.open(dir.toString(), CONF);
            LiveTrainException e = assertThrows(LiveTrainException.class, reader::best, bad);
            assertTrue(e.getMessage().endsWith("best.json: not a checkpoint pointer (its path " + bad + " is not runs/RUN/checkpoints/step-N inside the directory)"),
                    e.getMessage());
        }
    }

    /** Issue 25, point 10: what a reader takes from a file of the directory is capped; a 3 GB sparse file is refused, not read. */
    @Test
    void hugeFilesAreRefusedWithoutBeingRead() throws Exception {
        RunStore store = newRun(dir, 3);
        store.publish(smallNet(4), INPUT, meta(1, 0.9));
        Pointer best = store.best().orElseThrow();
        Path zip = dir.resolve(best.path()).resolve("model.zip");
        try (RandomAccessFile f = new RandomAccessFile(zip.toFile(), "rw")) {
            f.setLength(3L << 30);
        }
        long t0 = System.nanoTime();
        CorruptCheckpointException model = assertThrows(CorruptCheckpointException.class, () -> store.directory().load(best, false));
        assertTrue(model.getMessage().endsWith("model.zip: larger than 1024 MiB, the most read from such a file; refusing it"), model.getMessage());
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("best.json").toFile(), "rw")) {
            f.setLength(3L << 30);
        }
        LiveTrainException pointer = assertThrows(LiveTrainException.class, () -> CheckpointStore.open(dir.toString(), CONF).best());
        assertTrue(pointer.getMessage().contains("best.json: larger than 16 MiB, the most read from such a file"), pointer.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 10, "refused quickly");
    }

    @Test
    void garbagePointerIsAClearError() throws Exception {
        CheckpointStore store = CheckpointStore.open(dir.toString(), CONF);
        assertEquals(Optional.empty(), store.best());
        Files.writeString(dir.resolve("best.json"), "{not json");
        LiveTrainException e = assertThrows(LiveTrainException.class, store::best);
        assertTrue(e.getMessage().contains("best.json") && e.getMessage().contains("not a valid checkpoint pointer"), e.getMessage());
    }

    @Test
    void unwritableDirectoryIsRefusedAndNothingIsCreated() throws Exception {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> CheckpointStore.create(file.resolve("ckpt").toString(), CONF));
        assertTrue(e.getMessage().contains("not writable"), e.getMessage());
        assertEquals("x", Files.readString(file));
    }

    /**
     * A reader polling best.json and latest.json while checkpoints are published must only ever see
     * pointers whose model is complete and verifies.
     */
    @Test
    void concurrentReaderNeverSeesAPartialCheckpoint() throws Exception {
        RunStore writer = newRun(dir, 1);
        CheckpointStore reader = CheckpointStore.open(dir.toString(), CONF);
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger loads = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Long> seenBest = new ArrayList<>();
        Thread poller = new Thread(() -> {
            while (!done.get() && failure.get() == null) {
                try {
                    for (Optional<Pointer> p : List.of(reader.best(), reader.latest())) {
                        if (p.isEmpty()) continue;
                        try {
                            Checkpoint cp = reader.load(p.get(), false);
                            assertEquals(p.get().step(), cp.meta().step());
                            loads.incrementAndGet();
                        } catch (LiveTrainException e) {
                            // retention may delete a superseded latest between reading the pointer and the model;
                            // that is only acceptable if the pointer has moved on meanwhile
                            Optional<Pointer> now = p.get().equals(reader.best().orElse(null)) ? reader.best() : reader.latest();
                            if (now.isPresent() && now.get().equals(p.get())) throw e;
                        }
                    }
                    synchronized (seenBest) {
                        reader.best().ifPresent(b -> seenBest.add(b.step()));
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            }
        });
        poller.start();
        Network net = smallNet(5);
        for (int i = 1; i <= 12; i++) {
            net.params().addi(Nd4j.rand(net.params().shape()).muli(0.01));
            writer.publish(net, INPUT, meta(i, (i % 3 == 0) ? 0.5 + i / 100.0 : 0.4));
        }
        done.set(true);
        poller.join(30_000);
        assertNull(failure.get(), () -> "reader saw a broken checkpoint: " + failure.get());
        assertTrue(loads.get() > 0, "the reader loaded checkpoints while they were being published");
        synchronized (seenBest) {
            for (int k = 1; k < seenBest.size(); k++) assertTrue(seenBest.get(k) >= seenBest.get(k - 1), "best never moves back");
        }
        assertEquals(12, writer.best().orElseThrow().step());
    }
}
