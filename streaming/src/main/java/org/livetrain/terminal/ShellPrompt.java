package org.livetrain.terminal;

import org.jline.builtins.Completers.FileNameCompleter;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.DefaultParser;
import org.jline.terminal.Terminal;
import org.jline.terminal.Terminal.Signal;
import org.jline.terminal.TerminalBuilder;
import org.livetrain.data.FolderPool;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A person at a terminal (JLine): the line can be edited (arrows, Home/End, Ctrl-A/E/K/W), the Up arrow and
 * Ctrl-R go through the history, kept across sessions in {@value #HISTORY_FILE} in the home directory, and Tab
 * completes paths of folders and image files, also after {@code ~} and with spaces (completed as
 * {@code a\ b.png}). A line from elsewhere is printed above the prompt and what was typed is redrawn
 * intact. Ctrl-C clears the line; Ctrl-D on an empty line (or {@code q}) quits. The line is read as a
 * shell would: quotes and backslashes group a path with spaces into one word, and a leading {@code ~} is
 * the home directory; an unquoted path with spaces is taken as it was typed, as a script's would be.
 * <p>
 * Outside the prompt (while a request is answered) Ctrl-C ends the process as it did before the prompt
 * opened: exit status 130, shutdown hooks run.
 */
public final class ShellPrompt implements PromptIO {
    public static final String HISTORY_FILE = ".livetrain_history";

    private final Terminal terminal;
    private final LineReader reader;
    private final Path home;

    /** The terminal this process runs in, with the history in the user's home directory. */
    public static ShellPrompt system() {
        try {
            Terminal t = TerminalBuilder.builder().system(true).name("livetrain").build();
            t.handle(Signal.INT, signal -> System.exit(130));
            return new ShellPrompt(t, Path.of(System.getProperty("user.home")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the terminal", e);
        }
    }

    /** A prompt on any JLine terminal; {@code home} is what {@code ~} stands for and holds the history. */
    public ShellPrompt(Terminal terminal, Path home) {
        this.terminal = terminal;
        this.home = home;
        DefaultParser parser = new DefaultParser();
        parser.setEofOnUnclosedQuote(false); // "it's.png" is a file name, not the start of a quoted string
        this.reader = LineReaderBuilder.builder().terminal(terminal).appName("livetrain")
                .parser(parser)
                .completer(new ImagePathCompleter(home))
                .variable(LineReader.HISTORY_FILE, home.resolve(HISTORY_FILE))
                .variable(LineReader.HISTORY_FILE_SIZE, 1000)
                .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true) // a '!' in a path is a '!'
                .option(LineReader.Option.HISTORY_IGNORE_SPACE, false)
                .build();
    }

    @Override
    public String readLine() {
        while (true) {
            try {
                reader.readLine(TerminalReader.PROMPT);
                return request(reader.getParsedLine().words());
            } catch (UserInterruptException e) {
                // Ctrl-C: the line is dropped, a fresh prompt follows
            } catch (EndOfFileException e) {
                terminal.writer().println();
                terminal.flush();
                return null;
            }
        }
    }

    /** The words of a line, unquoted and with {@code ~} expanded, joined by single spaces. */
    private String request(List<String> words) {
        return String.join(" ", words.stream().filter(w -> !w.isEmpty()).map(this::expand).toList());
    }

    private String expand(String word) {
        if (word.equals("~")) return home.toString();
        if (word.startsWith("~/")) return home.resolve(word.substring(2)).toString();
        return word;
    }

    @Override
    public void println(String text) {
        reader.printAbove(text);
    }

    @Override
    public void printAbove(String line) {
        reader.printAbove(line);
    }

    @Override
    public void close() {
        try {
            reader.getHistory().save();
            terminal.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the terminal", e);
        }
    }

    /** Folders and image files that are not hidden, relative to the working directory or after {@code ~}. */
    private static final class ImagePathCompleter extends FileNameCompleter {
        private final Path home;

        ImagePathCompleter(Path home) {
            this.home = home;
        }

        @Override
        protected boolean accept(Path path) {
            try {
                return !Files.isHidden(path) && (Files.isDirectory(path) || FolderPool.isImageName(path.getFileName().toString()));
            } catch (IOException e) {
                return false;
            }
        }

        @Override
        protected Path getUserHome() {
            return home;
        }
    }
}
