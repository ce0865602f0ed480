package org.livetrain.terminal;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A line of a stream waits a moment for the next ones, which are then scored with it. */
@Tag("fast")
class PipedPromptTest {
    @Test
    void aLineOfAStreamWaitsForTheNextOne() throws Exception {
        PipedOutputStream writer = new PipedOutputStream();
        // a wait of 500 ms rather than the prompt's 5: a line 1 ms late must arrive within it even on a loaded machine
        PipedPrompt prompt = new PipedPrompt(new PipedInputStream(writer, 1 << 16), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(new ByteArrayOutputStream()), true, TimeUnit.MILLISECONDS.toNanos(500));
        write(writer, "a\nb\n");
        assertEquals("a", prompt.readLine());
        assertEquals(List.of("b"), prompt.waiting(63), "what is already there (the first line is not a stream yet: no wait)");
        assertEquals("b", prompt.readLine());
        // b came right after a: a stream. The next line, written 1 ms later, is waited for
        Thread late = new Thread(() -> {
            try {
                Thread.sleep(1);
                write(writer, "c\n");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        late.start();
        assertEquals(List.of("c"), prompt.waiting(63));
        late.join();
        writer.close();
    }

    private static void write(PipedOutputStream w, String s) throws Exception {
        w.write(s.getBytes(StandardCharsets.UTF_8));
        w.flush();
    }
}
