package org.livetrain.terminal;

import java.io.Closeable;
import java.io.IOException;

/**
 * The two ends of the prompt: where request lines come from, where answers go, and how a line from
 * elsewhere (training progress, a model change) is shown without breaking the prompt. {@link PipedPrompt}
 * is a script's standard input and output, read line by line exactly as written; {@link ShellPrompt} is a
 * person at a terminal, with line editing, history and completion.
 */
public interface PromptIO extends Closeable {
    /** Shows the prompt and returns the next request line, or null at the end of input. */
    String readLine() throws IOException;

    /** Prints an answer (one or more lines). */
    void println(String text);

    /** Prints a line that did not come from a request, above the prompt: what was typed stays on screen as it was. */
    void printAbove(String line);

    @Override
    default void close() {
    }
}
