package org.livetrain.jobs.training;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The position between evaluations: a bar redrawn in place on a terminal, plain lines elsewhere. */
@Tag("fast")
class ProgressTest {
    @Test
    void onATerminalABarIsRedrawnInPlaceAndClearedForLines() {
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        List<String> lines = new ArrayList<>();
        Progress p = new Progress(lines::add, new PrintStream(screen, true, StandardCharsets.UTF_8), true);
        p.position(50, 200, 5.0);
        String drawn = screen.toString(StandardCharsets.UTF_8);
        assertEquals("\r[########......................] 50/200 steps  5.0 steps/s  ETA 00:30", drawn);
        p.line("epoch 1/3  step 63");
        assertTrue(screen.toString(StandardCharsets.UTF_8).endsWith("\r" + " ".repeat(drawn.length() - 1) + "\r"), "the bar is wiped before a line");
        assertEquals(List.of("epoch 1/3  step 63"), lines);
    }

    @Test
    void elsewherePlainLinesOnlyAfterAQuietPeriodAndNoneInLiveMode() {
        List<String> lines = new ArrayList<>();
        new Progress(lines::add, null, true, 0).position(150, 200, 2.5);
        assertEquals(List.of("progress: 150/200 steps (75%), 2.5 steps/s, about 00:20 left"), lines);

        List<String> quiet = new ArrayList<>();
        Progress recent = new Progress(quiet::add, null, true);
        recent.line("epoch 1/3  step 50");
        recent.position(60, 200, 2.5); // a line was printed less than 10 s ago
        assertEquals(List.of("epoch 1/3  step 50"), quiet);

        List<String> live = new ArrayList<>();
        new Progress(live::add).position(60, 200, 2.5);
        assertTrue(live.isEmpty(), "the prompt of --live has its own status command");
    }
}
