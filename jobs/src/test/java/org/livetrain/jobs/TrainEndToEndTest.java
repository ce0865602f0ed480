package org.livetrain.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.Lists;
import org.apache.hadoop.conf.Configuration;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A short real run on the bundled digits (Spark local[2], two workers, parameter averaging), then the
 * live-inference prompt against its checkpoints, fed through standard input as a script would.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TrainEndToEndTest {
    @TempDir
    static Path dir;

    static Path ckpt;

    /** The seed's demo image: a 1490x1480 RGBA screenshot of a handwritten 7 with a thin frame. */
    static final Path SEVEN = Path.of(System.getProperty("livetrain.repo", "..")).resolve("data/demo/seven.png");

    @Test
    @Order(1)
    void shortRunPublishesBestAndLatestWellAboveChance() throws Exception {
        ckpt = dir.resolve("ckpt");
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
        assertEquals(1, store.newestRun().orElseThrow().history().size());
        assertTrue(r.err().isBlank() || !r.err().contains("Exception"), r.err());
    }

    @Test
    @Order(2)
    void terminalAnswersPipedPathsFromTheBestModel() throws Exception {
        assertTrue(Files.exists(SEVEN), SEVEN + " is part of the repository");
        Path text = Files.writeString(dir.resolve("notes.txt"), "this is not an image");
        Path folder = Files.createDirectories(dir.resolve("two images"));
        Files.copy(SEVEN, folder.resolve("a.png"));
        Files.copy(SEVEN, folder.resolve("b.png"));
        String input = String.join("\n", SEVEN.toString(), "", dir.resolve("missing.png").toString(), text.toString(),
                "'" + folder + "'", "q", "this line is never read") + "\n";
        Cli r = Cli.withInput(input, "terminal", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.err());
        String out = r.out();
        String prompt = "Live Inference (Path to Local Image File or q to quit): ";
        assertTrue(out.contains(prompt), out);
        List<String> answers = out.lines().map(l -> l.replace(prompt, "")).filter(l -> !l.isBlank()).toList();
        // first line: which model serves; then one answer per request, in order
        assertTrue(answers.get(0).startsWith("Serving the best model of"), answers.toString());
        assertTrue(answers.get(1).matches("Prediction: 7  \\(confidence \\d+\\.\\d%, model step \\d+, dev accuracy \\d+\\.\\d%\\)"), answers.get(1));
        assertEquals("Error: " + dir.resolve("missing.png") + ": no such file", answers.get(2));
        assertTrue(answers.get(3).startsWith("Error: " + text) && answers.get(3).contains("not an image"), answers.get(3));
        assertTrue(answers.get(4).startsWith(folder.resolve("a.png") + ": Prediction: 7"), answers.get(4));
        assertTrue(answers.get(5).startsWith(folder.resolve("b.png") + ": Prediction: 7"), answers.get(5));
        assertEquals(6, answers.size(), answers.toString());
    }

    @Test
    @Order(3)
    void jsonModePrintsTheScorerRecord() throws Exception {
        Cli r = Cli.withInput(SEVEN + "\n" + dir.resolve("missing.png") + "\n", "terminal", "--json", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.err());
        List<String> lines = r.out().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(2, lines.size(), r.out());
        ObjectMapper json = new ObjectMapper();
        var ok = json.readTree(lines.get(0));
        assertEquals("7", ok.get("prediction").asText(), lines.get(0));
        assertEquals(SEVEN.toString(), ok.get("path").asText());
        assertTrue(ok.get("confidence").asDouble() > 0.5);
        assertEquals(3, ok.get("top").size());
        assertTrue(ok.get("model_step").asLong() > 0);
        assertTrue(ok.get("model_val_accuracy").asDouble() > 0.8);
        assertTrue(ok.get("error").isNull());
        var bad = json.readTree(lines.get(1));
        assertTrue(bad.get("prediction").isNull());
        assertTrue(bad.get("error").asText().contains("no such file"));
        assertEquals(List.of("request_id", "path", "prediction", "confidence", "top", "model_step", "model_run", "model_val_accuracy", "error"),
                Lists.newArrayList(ok.fieldNames()));
    }

    /** `show` draws the input the network is given; --save-inputs writes it beside each answer. */
    @Test
    @Order(4)
    void showDrawsWhatTheModelSeesAndSaveInputsWritesIt() throws Exception {
        Path saved = dir.resolve("inputs");
        Cli r = Cli.withInput("show " + SEVEN + "\n" + SEVEN + "\nq\n", "terminal", "--save-inputs", saved.toString(), "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.err());
        List<String> lines = r.out().lines().map(l -> l.replace("Live Inference (Path to Local Image File or q to quit): ", "")).toList();
        int at = lines.indexOf("What the model sees (28x28 grey, profile digit, 10 classes):");
        assertTrue(at >= 0, r.out());
        List<String> picture = lines.subList(at + 1, at + 29);
        assertTrue(picture.stream().allMatch(l -> l.length() <= 56 && l.matches("[ .:=+*#%@-]*")), "28 rows of ASCII shades: " + picture);
        assertTrue(picture.get(0).isBlank() && picture.get(27).isBlank(), "an empty margin, as MNIST has");
        assertTrue(picture.stream().filter(l -> l.contains("@")).count() >= 8, "the stroke of the seven: " + picture);
        assertTrue(lines.get(at + 29).startsWith("Top: 7 "), lines.get(at + 29));
        Path png = saved.resolve("2-seven.png");
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("Prediction: 7") && l.endsWith("[input: " + png + "]")), r.out());
        Mat img = org.bytedeco.opencv.global.opencv_imgcodecs.imread(png.toString(),
                IMREAD_UNCHANGED);
        assertEquals(28, img.rows());
        assertEquals(28, img.cols());
        assertEquals(1, img.channels());
    }

    @Test
    @Order(5)
    void terminalBeforeAnyCheckpointSaysSoInsteadOfFailing() {
        Cli r = Cli.withInput(SEVEN + "\n", "terminal", "--checkpoint-dir", dir.resolve("empty").toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("No model yet in"), r.out());
        assertTrue(r.out().contains("Error: no model is ready yet: no checkpoint has been published in"), r.out());
    }
}
