package org.livetrain.terminal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

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
    /** Lines closer than this are a stream (300 lines/s are 3.3 ms apart; a person types far slower). */
    static final long STREAMING_GAP = TimeUnit.MILLISECONDS.toNanos(20);
    /** How long a line of a stream waits for the next ones. */
    static final long LINGER = TimeUnit.MILLISECONDS.toNanos(5);
    private static final long POLL = TimeUnit.MICROSECONDS.toNanos(500);

    private final BufferedReader in;
    private final PrintStream out;
    private final PrintStream err;
    private final boolean json;
    private final ArrayDeque<String> ahead = new ArrayDeque<>();
    private boolean ended;
    private boolean promptShown;
    /** When the last line came off the stream, and how long after the one before it. */
    private long lastRead = System.nanoTime() - STREAMING_GAP, gap = Long.MAX_VALUE;

    private final long linger;

    public PipedPrompt(InputStream in, PrintStream out, PrintStream err, boolean json) {
        this(in, out, err, json, LINGER);
    }

    /** @param linger how long a line of a stream waits for the next ones, in nanoseconds */
    PipedPrompt(InputStream in, PrintStream out, PrintStream err, boolean json, long linger) {
        this.linger = linger;
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
        String line = ahead.isEmpty() && !ended ? read() : ahead.poll();
        synchronized (this) {
            promptShown = false;
            if (line == null && !json) out.println();
            out.flush();
        }
        return line;
    }

    /**
     * The lines already here after the one just read, up to {@code max}. While lines stream in (the last one
     * came within {@link #STREAMING_GAP} of the one before), waits up to {@link #LINGER} for more, so that a
     * steady stream is scored a few lines per forward pass instead of one: the pass costs about as much for a
     * few images as for one (docs/PERFORMANCE.md, Serving cost). A single typed line never waits.
     */
    @Override
    public List<String> waiting(int max) throws IOException {
        long deadline = System.nanoTime() + (gap < STREAMING_GAP ? linger : 0);
        while (ahead.size() < max && !ended) {
            if (in.ready()) {
                String line = read();
                if (line == null) ended = true;
                else ahead.add(line);
            } else if (System.nanoTime() < deadline) {
                LockSupport.parkNanos(POLL);
            } else {
                break;
            }
        }
        return ahead.stream().limit(max).toList();
    }

    private String read() throws IOException {
        String line = in.readLine();
        long now = System.nanoTime();
        gap = now - lastRead;
        lastRead = now;
        return line;
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
