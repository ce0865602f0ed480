package org.livetrain.terminal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Requests read line by line from a stream (a pipe, a file, a test), answers printed as plain lines: every
 * line is taken exactly as written, and nothing is redrawn. The prompt is printed before each read; a line
 * from elsewhere that arrives while it waits goes on a line of its own, and the prompt is printed again.
 * Lines that arrive faster than they are answered can be looked at ahead ({@link #waiting}), so that the
 * reader scores them together; the output stays what it would be line by line.
 * With {@code json}, there is no prompt and lines from elsewhere go to {@code err}, so that {@code out}
 * holds records only.
 */
public final class PipedPrompt implements PromptIO {
    private final BufferedReader in;
    private final PrintStream out;
    private final PrintStream err;
    private final boolean json;
    private final ArrayDeque<String> ahead = new ArrayDeque<>();
    private boolean ended;
    private boolean promptShown;

    public PipedPrompt(InputStream in, PrintStream out, PrintStream err, boolean json) {
        this.in = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        this.out = out;
        this.err = err;
        this.json = json;
    }

    @Override
    public String readLine() throws IOException {
        if (!json) {
            synchronized (this) {
                out.print(TerminalReader.PROMPT);
                out.flush();
                promptShown = true;
            }
        }
        String line = ahead.isEmpty() && !ended ? in.readLine() : ahead.poll();
        synchronized (this) {
            promptShown = false;
            if (line == null && !json) out.println();
            out.flush();
        }
        return line;
    }

    @Override
    public List<String> waiting(int max) throws IOException {
        while (ahead.size() < max && !ended && in.ready()) {
            String line = in.readLine();
            if (line == null) ended = true;
            else ahead.add(line);
        }
        return ahead.stream().limit(max).toList();
    }

    @Override
    public synchronized void println(String text) {
        out.println(text);
        out.flush();
    }

    @Override
    public synchronized void printAbove(String line) {
        PrintStream target = json ? err : out;
        if (promptShown && !json) {
            target.print(System.lineSeparator() + line + System.lineSeparator() + TerminalReader.PROMPT);
        } else {
            target.println(line);
        }
        target.flush();
    }
}
