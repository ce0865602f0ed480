package org.livetrain.terminal;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;

/**
 * The two ends of the prompt: where request lines come from, where answers go, and how a line from
 * elsewhere (training progress, a model change) is shown without breaking the prompt. {@link PipedPrompt}
 * is a script's standard input and output, read line by line exactly as written; {@link ShellPrompt} is a
 * person at a terminal, with line editing, history and completion.
 */
public interface PromptIO extends Closeable {
    /** Shows the prompt and returns the next request line, or null at the end of input. */
    String readLine() throws IOException;

    /**
     * The lines that already arrived after the one just read, up to {@code max}, without waiting for more;
     * {@link #readLine} still returns each of them, in order. A person types one line at a time: none.
     */
    default List<String> waiting(int max) throws IOException {
        return List.of();
    }

    /** Prints an answer (one or more lines). */
    void println(String text);

    /** Prints a line that did not come from a request, above the prompt: what was typed stays on screen as it was. */
    void printAbove(String line);

    @Override
    default void close() {
    }
}
