package org.livetrain.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.image.Shape;
import org.livetrain.model.ModelSpec;
import org.livetrain.model.Network;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Bring your own network. A configuration: `model mlp` prints a configuration, a user edits it (a narrower first layer),
 * `train --model-config` trains that network, and what is published is that network. A configuration
 * that does not fit the data is refused in one line before anything is written. Weights: --init-from
 * fine-tunes a saved model.
 */
@Tag("slow")
class ModelConfigTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void anEditedConfigurationIsTrainedAndPublished() throws Exception {
        Cli printed = Cli.run("model", "mlp");
        assertEquals(0, printed.exitCode(), printed.err());
        ObjectNode conf = (ObjectNode) JSON.readTree(printed.out());
        ((ObjectNode) conf.get("confs").get(0).get("layer")).put("nout", 64);
        ((ObjectNode) conf.get("confs").get(1).get("layer")).put("nin", 64);
        Path file = dir.resolve("narrow-mlp.json");
        JSON.writeValue(file.toFile(), conf);

        Path ckpt = dir.resolve("ckpt");
        Cli r = Cli.run("train", "--model-config", file.toString(), "--epochs", "1", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.out() + r.err());
        assertTrue(r.out().contains("training config:narrow-mlp.json with the byteps trainer"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertEquals(784 * 64 + 64 + 64 * 128 + 128 + 128 * 10 + 10, best.network().numParams(), "the edited network was trained");
        assertEquals("config:narrow-mlp.json", best.meta().origin().model());
        assertTrue(best.meta().devAccuracy() > 0.8, "it learned: " + best.meta().devAccuracy());
        Cli runs = Cli.run("runs", "--checkpoint-dir", ckpt.toString());
        assertTrue(runs.out().contains("config:narrow-mlp.json"), runs.out());
    }

    @Test
    void aConfigurationThatDoesNotFitIsRefusedInOneLine() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        TrainErrorsTest errors = new TrainErrorsTest();
        ObjectNode conf = (ObjectNode) JSON.readTree(Cli.run("model", "lenet").out());
        ((ObjectNode) conf.get("confs").get(conf.get("confs").size() - 1).get("layer")).put("nout", 5);
        Path five = dir.resolve("five.json");
        JSON.writeValue(five.toFile(), conf);
        errors.expectOneLineError("--model-config " + five + ": the network has 5 outputs, the data has 10 classes",
                "train", "--model-config", five.toString(), "--checkpoint-dir", ckpt.toString());

        Path notDl4j = Files.writeString(dir.resolve("other.json"), "{\"layers\": [128, 10]}");
        errors.expectOneLineError("--model-config " + notDl4j + ": not a DL4J configuration", "train", "--model-config", notDl4j.toString(),
                "--checkpoint-dir", ckpt.toString());
        Path rgb = Files.writeString(dir.resolve("rgb.json"), Cli.run("model", "lenet").out().replace("\"numChannels\" : 1", "\"numChannels\" : 3")
                .replace("\"nin\" : 1,", "\"nin\" : 3,"));
        errors.expectOneLineError("--model-config " + rgb + ": the network does not take the data's 28x28 images as rows of 784 values",
                "train", "--model-config", rgb.toString(), "--checkpoint-dir", ckpt.toString());
        errors.expectOneLineError("--model: give either --model or --model-config, not both",
                "train", "--model", "mlp", "--model-config", five.toString(), "--checkpoint-dir", ckpt.toString());
        errors.expectOneLineError("--model-config " + dir.resolve("missing.json") + ": cannot read it",
                "train", "--model-config", dir.resolve("missing.json").toString(), "--checkpoint-dir", ckpt.toString());
        errors.expectOneLineError("--freeze 1: only with --init-from", "train", "--freeze", "1", "--checkpoint-dir", ckpt.toString());
        errors.expectOneLineError("--init-from " + five + ": not a DL4J model zip", "train", "--init-from", five.toString(), "--checkpoint-dir", ckpt.toString());
        assertFalse(Files.exists(ckpt), "nothing written");
    }

    /**
     * Transfer learning: a network trained on the ten digits is fine-tuned on a folder of three of them
     * (zero, one, seven as PNG files): its output layer is replaced by one of three, its first layer stays
     * exactly as it was (--freeze 1), the rest trains, and the prompt answers with the folder's class names.
     */
    @Test
    void aSavedModelIsFineTunedOnOtherClassesWithItsFirstLayerFrozen() throws Exception {
        Path base = dir.resolve("base");
        Cli r = Cli.run("train", "--model", "mlp", "--epochs", "1", "--checkpoint-dir", base.toString());
        assertEquals(0, r.exitCode(), r.out() + r.err());
        CheckpointStore baseStore = CheckpointStore.open(base.toString(), new Configuration());
        Pointer basePointer = baseStore.best().orElseThrow();
        Network saved = baseStore.load(basePointer, false).network();
        Path zip = base.resolve(basePointer.path()).resolve("model.zip");

        Path folder = threeDigitClasses(dir.resolve("three"), 150);
        Path tuned = dir.resolve("tuned");
        r = Cli.run("train", "--init-from", zip.toString(), "--freeze", "1", "--data", "folder:" + folder, "--input-profile", "digit",
                "--channels", "1", "--epochs", "3", "--eval-every", "5", "--checkpoint-dir", tuned.toString());
        assertEquals(0, r.exitCode(), r.out() + r.err());
        assertTrue(r.out().contains("training init:model.zip with the byteps trainer"), r.out());
        CheckpointStore store = CheckpointStore.open(tuned.toString(), new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        Network net = best.network();
        assertEquals(3, net.output(Nd4j.zeros(1, 784)).size(1), "a new output layer for three classes");
        assertEquals(saved.layers()[0].params(), net.layers()[0].params(), "the frozen first layer did not move");
        assertNotEquals(saved.layers()[1].params(), net.layers()[1].params(), "the second layer trained");
        assertTrue(best.meta().devAccuracy() > 0.9, "fine-tuned: dev accuracy " + best.meta().devAccuracy());

        Path seven = dir.resolve("a-seven.png");
        Files.copy(Files.list(folder.resolve("seven")).sorted().findFirst().orElseThrow(), seven);
        Cli answer = Cli.withInput(seven + "\nq\n", "terminal", "--checkpoint-dir", tuned.toString());
        assertTrue(answer.out().contains("Prediction: seven"), answer.out());
    }

    /**
     * A Keras model file: a Sequential model written as Keras's model.save() writes HDF5 (by h5py, from a
     * script with seeded weights) is read with the weights it holds (its output for one input equals the one
     * numpy computed), fine-tuned on the digits and published; a file that is not one is refused in one line.
     */
    @Test
    void aKerasModelIsImportedAndFineTuned() throws Exception {
        Path h5 = dir.resolve("dense.h5"), expected = dir.resolve("expected.txt");
        assumeTrue(hasH5py(),
                "h5py is not installed (apt-get install python3-h5py; .ci/run installs it): Keras import skipped");
        Process p = new ProcessBuilder("/usr/bin/python3", Path.of("src/test/resources/keras/write_dense_h5.py").toAbsolutePath().toString(),
                h5.toString(), expected.toString()).redirectErrorStream(true).start();
        String pyOut = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), pyOut);

        ModelSpec spec = ModelSpec.initFrom(h5.toString(), Files.readAllBytes(h5), 10, 0.001, 1, 0);
        Network imported = spec.create(new Shape(28, 28, 1), 10, 0.001, 1);
        float[] x = new float[784];
        for (int i = 0; i < x.length; i++) x[i] = (float) i / 783;
        float[] out = imported.output(Nd4j.create(x, 1, 784)).toFloatVector();
        String[] want = Files.readString(expected).trim().split(" ");
        for (int i = 0; i < 10; i++) assertEquals(Double.parseDouble(want[i]), out[i], 1e-5, "class " + i + " as Keras computes it");

        Path ckpt = dir.resolve("keras");
        Cli r = Cli.run("train", "--init-from", h5.toString(), "--epochs", "1", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.out() + r.err());
        assertTrue(r.out().contains("training init:dense.h5 with the byteps trainer"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        double dev = store.load(store.best().orElseThrow(), false).meta().devAccuracy();
        assertTrue(dev > 0.85, "fine-tuned: dev accuracy " + dev);
    }

    /**
     * Issue 25, point 6: a Keras file is parsed by native libhdf5, so only what is HDF5 by its signature reaches
     * it, and no model file is read past 1 GiB (a sparse file here, refused from its size before it is read).
     */
    @Test
    void aKerasFileIsRecognisedByItsSignatureAndItsSizeIsCapped() throws Exception {
        TrainErrorsTest errors = new TrainErrorsTest();
        Path notKeras = Files.writeString(dir.resolve("notes.h5"), "not an HDF5 file");
        errors.expectOneLineError("--init-from " + notKeras + ": not an HDF5 file (no HDF5 signature)",
                "train", "--init-from", notKeras.toString(), "--checkpoint-dir", dir.resolve("none").toString());
        Path huge = dir.resolve("huge.h5");
        try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
            f.write(new byte[]{(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'});
            f.setLength((1L << 30) + 1);
        }
        errors.expectOneLineError("huge.h5: larger than 1024 MiB, the most read from such a file",
                "train", "--init-from", huge.toString(), "--checkpoint-dir", dir.resolve("none").toString());
    }

    static boolean hasH5py() {
        try {
            return new ProcessBuilder("/usr/bin/python3", "-c", "import h5py").start().waitFor() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** zero/, one/ and seven/: the first {@code each} bundled digits of those labels as grey PNG files. */
    static Path threeDigitClasses(Path folder, int each) throws Exception {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        Map<Integer, String> names = Map.of(0, "zero", 1, "one", 7, "seven");
        for (String n : names.values()) Files.createDirectories(folder.resolve(n));
        int[] idx = new int[3000];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Map<Integer, Integer> written = new HashMap<>();
        for (Iterator<LabeledImage> it = digits.pool().read(idx); it.hasNext(); ) {
            LabeledImage e = it.next();
            String name = names.get(e.label());
            if (name == null || written.merge(e.label(), 1, Integer::sum) > each) continue;
            ParityTest.export(digits, e, folder.resolve(name).resolve(e.index() + ".png"));
        }
        return folder;
    }
}
