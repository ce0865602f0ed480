package org.livetrain.terminal;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.serving.ScoreRecord;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What a person reads for an answer. */
@Tag("fast")
class TerminalReaderTest {
    static ScoreRecord answer(double p1, double p2, double p3) {
        return new ScoreRecord("1", "x.png", new ScoreRecord.Prediction("7", p1, List.of(new ScoreRecord.Candidate("7", p1),
                new ScoreRecord.Candidate("1", p2), new ScoreRecord.Candidate("9", p3))), new ScoreRecord.Answerer(150L, "r1", "ab".repeat(32), 0.979), null);
    }

    @Test
    void anUnsureAnswerNamesTheRunnersUp() {
        assertEquals("Prediction: 7  (confidence 99.1%, model step 150, dev accuracy 97.9%)", TerminalReader.human(answer(0.991, 0.005, 0.002)));
        assertEquals("Prediction: 7  (confidence 45.1%, model step 150, dev accuracy 97.9%); runner-up: 1 30.2%, 9 12.0%",
                TerminalReader.human(answer(0.451, 0.302, 0.12)));
    }
}
