package org.livetrain.terminal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.livetrain.LiveTrainException;
import org.livetrain.data.FolderPool;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.ImageFiles;
import org.livetrain.io.Storage;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.Scorer;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunInfo;
import org.livetrain.store.RunStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;

/**
 * The seed's live-inference prompt: type the path of an image, get the prediction of the best model so
 * far. {@code q}, {@code quit} or end of input quits; an empty line asks again; {@code ~} is expanded;
 * quotes around a dragged-in path are dropped; a directory scores every image in it; {@code status}
 * describes the run; {@code show PATH} draws the input the network was given, with its top classes. An
 * answer below {@value #UNSURE} confidence also names the runner-up classes. With a folder to save inputs
 * in, each answered file's prepared input is written there as a PNG and named in the answer. File requests
 * that are already waiting (piped faster than answered) are scored together, answers in order. Lines from
 * elsewhere (training progress, model changes) go through {@link #printAbove} so they never garble the
 * prompt or an answer. Where lines come from and how they are shown is the {@link PromptIO}'s: a script's
 * pipe or a person's terminal.
 */
public final class TerminalReader {
    public static final String PROMPT = "Live Inference (Path to Local Image File or q to quit): ";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> QUIT = Set.of("q", "quit", "exit");

    private final Scorer scorer;
    private final PromptIO io;
    /** Below this confidence an answer also names the runner-up classes. */
    static final double UNSURE = 0.6;
    private final boolean json;
    private final boolean interactive;
    private final Path saveInputs;
    private volatile boolean closed;
    private long requests;

    /**
     * @param settings {@code interactive}: a person at a terminal: pictures are drawn in colour
     */
    public TerminalReader(Scorer scorer, PromptIO io, ReaderSettings settings) {
        this.scorer = scorer;
        this.io = io;
        this.json = settings.json();
        this.interactive = settings.interactive();
        this.saveInputs = settings.saveInputs();
    }

    /** Prints a line that did not come from a request, without breaking the prompt. */
    public void printAbove(String line) {
        io.printAbove(line);
    }

    /** Reads requests until q or end of input; returns the exit code (0). */
    public int run() throws IOException {
        try {
            return loop();
        } finally {
            closed = true;
        }
    }

    /** Whether {@link #run} has returned (q or end of input). */
    public boolean closed() {
        return closed;
    }

    private int loop() throws IOException {
        while (true) {
            String line = io.readLine();
            if (line == null) return 0;
            String file = singleFile(line);
            if (file != null) {
                answerFiles(file);
                continue;
            }
            String request = unquote(line.strip());
            if (request.isEmpty()) continue;
            String lower = request.toLowerCase(Locale.ROOT);
            if (QUIT.contains(lower)) return 0;
            if (lower.equals("status")) { // a file named status: ./status
                io.println(status());
                continue;
            }
            if (lower.startsWith("show ")) { // a file named "show x": "./show x"
                show(location(unquote(request.substring(5).strip())));
                continue;
            }
            answer(location(request));
        }
    }

    /** The file a line asks about when it is a request for one file (not empty, a command or a directory); else null. */
    private String singleFile(String line) {
        String request = unquote(line.strip());
        String lower = request.toLowerCase(Locale.ROOT);
        if (request.isEmpty() || QUIT.contains(lower) || lower.equals("status") || lower.startsWith("show ")) return null;
        String location = location(request);
        return scorer.files().isDirectory(location) ? null : location;
    }

    /**
     * Answers a file together with the file requests already waiting behind it (piped lines that arrive faster
     * than they are answered): one forward pass for them all, then each answer after the prompt it would have
     * had on its own.
     */
    private void answerFiles(String first) throws IOException {
        List<String> files = new ArrayList<>(List.of(first));
        for (String next : io.waiting(Scorer.BATCH - 1)) {
            String p = singleFile(next);
            if (p == null) break;
            files.add(p);
        }
        List<Scorer.Scored> answers = scorer.scoreWithInputs(files.stream().map(p -> new Scorer.Request(nextId(), p, p)).toList());
        print(answers.get(0), false);
        for (Scorer.Scored a : answers.subList(1, answers.size())) {
            io.readLine(); // the line scored above: its prompt, then its answer
            print(a, false);
        }
    }

    private void answer(String path) {
        if (scorer.files().isDirectory(path)) {
            List<String> images;
            try {
                images = scorer.files().list(path, FolderPool::isImageName);
            } catch (IOException e) {
                print(refused(ScoreRecord.error(nextId(), path, path + ": cannot list directory (" + Storage.firstLine(e) + ")")), false);
                return;
            }
            if (images.isEmpty()) {
                print(refused(ScoreRecord.error(nextId(), path, path + ": directory holds no image files")), false);
                return;
            }
            // in chunks: one forward pass per chunk, and the first answers show up early
            for (int from = 0; from < images.size(); from += Scorer.BATCH) {
                List<Scorer.Request> chunk = images.subList(from, Math.min(images.size(), from + Scorer.BATCH)).stream()
                        .map(p -> new Scorer.Request(nextId(), p, p)).toList();
                scorer.scoreWithInputs(chunk).forEach(r -> print(r, true));
            }
            return;
        }
        print(scorer.scoreWithInputs(List.of(new Scorer.Request(nextId(), path, path))).get(0), false);
    }

    /** The input the network is given for a file, drawn, with its top classes. */
    private void show(String path) {
        Scorer.Scored s = scorer.scoreWithInputs(List.of(new Scorer.Request(nextId(), path, path))).get(0);
        ScoreRecord r = s.record();
        if (!r.ok()) {
            io.println("Error: " + r.error());
            return;
        }
        List<String> lines = new ArrayList<>();
        lines.add("What the model sees (" + s.contract().describe() + "):");
        lines.addAll(InputPicture.lines(s.input(), s.contract(), interactive));
        lines.add("Top: " + String.join(", ", r.top().stream().map(c -> String.format(Locale.ROOT, "%s %.1f%%", c.label(), 100 * c.p())).toList())
                + String.format(Locale.ROOT, "  (model step %d, dev accuracy %.1f%%)", r.modelStep(), 100 * r.modelValAccuracy()));
        io.println(String.join(System.lineSeparator(), lines));
    }

    private static Scorer.Scored refused(ScoreRecord r) {
        return new Scorer.Scored(r, null, null);
    }

    /** Writes the prepared input beside the answer (--save-inputs); returns the file, or null. */
    private Path save(Scorer.Scored s) {
        if (saveInputs == null || s.input() == null) return null;
        ScoreRecord r = s.record();
        Path file = saveInputs.resolve(r.requestId() + "-" + Path.of(r.path()).getFileName().toString().replaceAll("\\.[^.]*$", "") + ".png");
        try {
            Files.createDirectories(saveInputs);
        } catch (IOException e) {
            throw new LiveTrainException("--save-inputs " + saveInputs + ": cannot create the folder (" + e.getMessage() + ")");
        }
        if (!imwrite(file.toString(), ImagePreprocessor.picture(s.input(), s.contract()))) {
            throw new LiveTrainException("--save-inputs " + saveInputs + ": cannot write " + file);
        }
        return file;
    }

    /**
     * The newest run of the checkpoint directory, from its files only (training is not disturbed): its state,
     * where it is (while it runs), its last evaluation, the directory's best checkpoint and the model this
     * prompt answers with.
     */
    String status() {
        CheckpointStore store = scorer.models().store();
        StringBuilder b = new StringBuilder("Status: ");
        try {
            Optional<RunStore> newest = store.newestRun();
            if (newest.isEmpty()) b.append("no run in ").append(store.location()).append(" yet");
            else describe(store, newest.get(), b);
            store.best().ifPresent(p -> b.append(String.format(Locale.ROOT, "; best checkpoint: %s, dev accuracy %.4f", p.describe(), p.devAccuracy())));
        } catch (LiveTrainException | UncheckedIOException e) {
            b.append("the checkpoint directory cannot be read (").append(e.getMessage()).append(")");
        }
        b.append(scorer.models().current().map(m -> "; answering with " + m.describe()).orElse("; no model loaded yet"));
        scorer.models().promotionStatus().ifPresent(p -> b.append("; ").append(p));
        return b.toString();
    }

    private static void describe(CheckpointStore store, RunStore run, StringBuilder b) {
        RunInfo info = run.info().orElse(null);
        String state = info == null ? "state unknown" : store.state(info);
        b.append("run ").append(run.name()).append(" (").append(state);
        if (info != null && info.testAccuracy() != null) b.append(String.format(Locale.ROOT, ", test accuracy %.4f", info.testAccuracy()));
        b.append("): ");
        run.progress().ifPresent(p -> {
            if (RunInfo.RUNNING.equals(state)) {
                b.append(String.format(Locale.ROOT, "step %d of %d (epoch %d/%d), %.1f steps/s, as of %s; ",
                        p.step(), p.totalSteps(), p.epoch(), p.epochs(), p.stepsPerSecond(), p.updated()));
            } else if (p.state() != null && !RunInfo.FINISHED.equals(p.state())) {
                b.append(String.format(Locale.ROOT, "stopped at step %d of %d (epoch %d/%d) at %s; ", p.step(), p.totalSteps(), p.epoch(), p.epochs(), p.updated()));
            }
        });
        var history = run.history();
        if (history.isEmpty()) {
            b.append("no evaluation yet");
        } else {
            var last = history.get(history.size() - 1).meta();
            b.append(String.format(Locale.ROOT, "last evaluation: step %d, dev accuracy %.4f, %.0f ex/s",
                    last.step(), last.devAccuracy(), last.timing().examplesPerSecond()));
        }
    }

    private String nextId() {
        return Long.toString(++requests);
    }

    private void print(Scorer.Scored s, boolean withPath) {
        ScoreRecord r = s.record();
        Path saved = save(s);
        String text;
        if (json) {
            try {
                text = JSON.writeValueAsString(r);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        } else {
            text = (withPath ? r.path() + ": " : "") + human(r) + (saved == null ? "" : "  [input: " + saved + "]");
        }
        io.println(text);
    }

    /**
     * {@code Prediction: 7  (confidence 99.8%, model step 1200, dev accuracy 98.7%)}, followed by
     * {@code ; runner-up: 1 30.2%, 9 12.0%} below {@value #UNSURE} confidence, or {@code Error: ...}.
     */
    public static String human(ScoreRecord r) {
        if (!r.ok()) return "Error: " + r.error();
        String answer = String.format(Locale.ROOT, "Prediction: %s  (confidence %.1f%%, model step %d, dev accuracy %.1f%%)",
                r.prediction(), 100 * r.confidence(), r.modelStep(), 100 * r.modelValAccuracy());
        if (r.confidence() >= UNSURE || r.top() == null || r.top().size() < 2) return answer;
        return answer + "; runner-up: " + String.join(", ", r.top().stream().skip(1)
                .map(c -> String.format(Locale.ROOT, "%s %.1f%%", c.label(), 100 * c.p())).toList());
    }

    static String unquote(String s) {
        if (s.length() >= 2 && (s.startsWith("'") && s.endsWith("'") || s.startsWith("\"") && s.endsWith("\""))) {
            return s.substring(1, s.length() - 1);
        }
        return s;
    }

    /** What a typed request names: a URI as it is, a {@code file:} URI or a path (~ expanded) as a local path. */
    static String location(String request) {
        if (ImageFiles.remote(request).isPresent()) return request;
        return request.regionMatches(true, 0, "file:", 0, 5) ? ImageFiles.local(request).toString() : expand(request).toString();
    }

    static Path expand(String s) {
        String home = System.getProperty("user.home");
        if (s.equals("~")) return Path.of(home);
        if (s.startsWith("~/")) return Path.of(home, s.substring(2));
        return Path.of(s);
    }
}
