package org.livetrain.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bring your own network: `model mlp` prints a configuration, a user edits it (a narrower first layer),
 * `train --model-config` trains that network, and what is published is that network. A configuration
 * that does not fit the data is refused in one line before anything is written.
 */
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
        assertEquals("config:narrow-mlp.json", best.meta().model());
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
        assertFalse(Files.exists(ckpt), "nothing written");
    }
}
