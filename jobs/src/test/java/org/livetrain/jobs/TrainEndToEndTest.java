package org.livetrain.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.Lists;
import org.apache.hadoop.conf.Configuration;
import org.bytedeco.opencv.opencv_core.Mat;
import org.jline.terminal.Attributes.ControlChar;
import org.jline.terminal.Attributes.InputFlag;
import org.jline.terminal.Attributes.LocalFlag;
import org.jline.terminal.Attributes.OutputFlag;
import org.jline.terminal.Attributes;
import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.ExternalTerminal;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.serving.ImageLimits;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.terminal.ReaderSettings;
import org.livetrain.terminal.ShellPrompt;
import org.livetrain.terminal.TerminalReader;
import org.livetrain.terminal.TerminalSession;

import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A short real run on the bundled digits (Spark local[2], two workers, parameter averaging), then the
 * live-inference prompt against its checkpoints, fed through standard input as a script would, and typed
 * at a terminal as a person would.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Tag("slow")
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
        assertEquals("averaging", cp.meta().origin().trainer());
        assertEquals(2, cp.meta().origin().workers());
        assertEquals("digits", cp.meta().origin().data());
        assertEquals(10, cp.input().classes().size());
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
        Pointer best = CheckpointStore.open(ckpt.toString(), new Configuration()).best().orElseThrow();
        assertEquals(best.sha256(), ok.get("model_sha256").asText(), "the answer names the served checkpoint exactly");
        assertEquals(best.step(), ok.get("model_step").asLong());
        assertTrue(ok.get("model_val_accuracy").asDouble() > 0.8);
        assertTrue(ok.get("error").isNull());
        var bad = json.readTree(lines.get(1));
        assertTrue(bad.get("prediction").isNull());
        assertTrue(bad.get("error").asText().contains("no such file"));
        assertEquals(List.of("request_id", "path", "prediction", "confidence", "top", "model_step", "model_run", "model_sha256", "model_val_accuracy", "error", "shadow"),
                Lists.newArrayList(ok.fieldNames()));
        assertTrue(ok.get("shadow").isNull(), "the prompt promotes at once by default: no candidate is shadowed");
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

    /**
     * A person at a terminal (JLine's terminal over a pair of streams, with a tty's line discipline): half a
     * path typed, a progress line arrives, the path is finished with Tab; the answer is for the whole path and
     * the typed text was redrawn under the progress line. Ctrl-C drops a line; the Up arrow brings back the
     * last path, also in the next session (history in the home directory); Ctrl-D quits.
     */
    @Test
    @Order(6)
    void aPersonAtATerminalTypesEditsCompletesAndRecalls() throws Exception {
        Path home = Files.createDirectories(dir.resolve("home"));
        Files.copy(SEVEN, Files.createDirectories(home.resolve("my digits")).resolve("seven one.png"));
        try (TypedSession t = new TypedSession(home)) {
            t.type("~/my\t");                           // Tab: ~/my\ digits/
            t.type("sev");
            t.session.reader().printAbove("epoch 1/1  step 40  1500 ex/s  (a progress line)");
            t.waitFor("(a progress line)", "~/my\\ digits/sev");  // what was typed, redrawn below it
            t.type("\t\r");                                // Tab: seven\ one.png
            t.waitFor("Prediction: 7");
            t.type("not a path at all");
            t.waitFor("not a path at all");
            int prompts = t.count(TerminalReader.PROMPT);
            t.type("\u0003");                                // Ctrl-C: the line is dropped, a fresh prompt
            t.waitForCount(TerminalReader.PROMPT, prompts + 1);
            t.type(UP + "\r");                               // the last request again
            t.waitForCount("Prediction: 7", 2);
            t.waitForCount(TerminalReader.PROMPT, prompts + 2);
            t.type("\u0004");                                // Ctrl-D
            assertEquals(0, t.exit());
            assertFalse(t.screen().contains("Error"), t.screen());
        }
        assertTrue(Files.readString(home.resolve(ShellPrompt.HISTORY_FILE)).contains("one.png"));
        try (TypedSession t = new TypedSession(home)) {
            t.type(UP + "\r");                               // the history of the session before
            t.waitFor("Prediction: 7");
            t.type("q\r");
            assertEquals(0, t.exit());
        }
    }

    /** The Up arrow as an xterm sends it once the prompt has switched the keypad to application mode. */
    static final String UP = "\u001bOA";

    /** The prompt on a JLine terminal whose keyboard and screen are streams of this test. */
    static final class TypedSession implements AutoCloseable {
        final PipedOutputStream keys = new PipedOutputStream();
        final ByteArrayOutputStream screen = new ByteArrayOutputStream();
        final TerminalSession session;
        final CompletableFuture<Integer> exit = new CompletableFuture<>();

        TypedSession(Path home) throws Exception {
            // JLine's terminal with the line discipline in Java: Ctrl-C typed here is the SIGINT a real tty would send
            Terminal terminal = new ExternalTerminal("test", "xterm", new PipedInputStream(keys), screen, StandardCharsets.UTF_8);
            terminal.setAttributes(ttyDefaults());
            terminal.setSize(new Size(200, 40));
            session = new TerminalSession(new CheckpointLocation(ckpt.toString(), new Configuration()),
                    new ReaderSettings(Duration.ofSeconds(1), ImageLimits.DEFAULT, List.of(), false, null, true), () -> "no model",
                    new ShellPrompt(terminal, home));
            Thread reader = new Thread(() -> {
                try {
                    exit.complete(session.run());
                } catch (Throwable e) {
                    exit.completeExceptionally(e);
                }
            });
            reader.setDaemon(true);
            reader.start();
            waitFor(TerminalReader.PROMPT);
        }

        /** What a pseudo-terminal starts with (stty sane): Ctrl-C is a signal, Ctrl-D the end of input, Enter a newline. */
        private static Attributes ttyDefaults() {
            Attributes a = new Attributes();
            a.setLocalFlags(EnumSet.of(LocalFlag.ISIG, LocalFlag.ICANON, LocalFlag.ECHO, LocalFlag.ECHOE, LocalFlag.ECHOK, LocalFlag.IEXTEN), true);
            a.setInputFlags(EnumSet.of(InputFlag.ICRNL, InputFlag.IXON), true);
            a.setOutputFlags(EnumSet.of(OutputFlag.OPOST, OutputFlag.ONLCR), true);
            a.setControlChar(ControlChar.VINTR, 3);
            a.setControlChar(ControlChar.VQUIT, 28);
            a.setControlChar(ControlChar.VERASE, 127);
            a.setControlChar(ControlChar.VEOF, 4);
            a.setControlChar(ControlChar.VSUSP, 26);
            return a;
        }

        void type(String keystrokes) throws Exception {
            keys.write(keystrokes.getBytes(StandardCharsets.UTF_8));
            keys.flush();
        }

        String screen() {
            return screen.toString(StandardCharsets.UTF_8);
        }

        void waitFor(String text) throws Exception {
            waitForCount(text, 1);
        }

        /** Waits until {@code then} is on the screen after {@code first}. */
        void waitFor(String first, String then) throws Exception {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (screen().indexOf(first) < 0 || screen().indexOf(then, screen().indexOf(first)) < 0) {
                if (System.nanoTime() > deadline) throw new AssertionError("'" + then + "' not on the screen after '" + first + "':\n" + screen());
                Thread.sleep(20);
            }
        }

        void waitForCount(String text, int n) throws Exception {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (count(text) < n) {
                if (System.nanoTime() > deadline) throw new AssertionError(n + " x '" + text + "' not on the screen:\n" + screen());
                Thread.sleep(20);
            }
        }

        int count(String text) {
            String s = screen();
            int n = 0;
            for (int i = s.indexOf(text); i >= 0; i = s.indexOf(text, i + 1)) n++;
            return n;
        }

        int exit() throws Exception {
            return exit.get(60, TimeUnit.SECONDS);
        }

        @Override
        public void close() {
            session.close();
        }
    }
}
