package org.livetrain.serving;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.store.Pointer;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The promotion rules on answers made up here: windows, verdicts, a pending candidate replaced, a refused one not tried again. */
@Tag("fast")
class PromoterTest {
    static final Promotion SHADOW = new Promotion(Promotion.Mode.SHADOW, 100, Duration.ofSeconds(60), 0.9, 0.3);

    static Pointer pointer(long step) {
        return new Pointer(step, 1, "checkpoints/step-" + step, Long.toHexString(step).repeat(4), 0.5 + step / 1e4, 0.1, "now", "r1");
    }

    static ScoreRecord said(String label, double confidence) {
        return new ScoreRecord("id", "x.png", new ScoreRecord.Prediction(label, confidence, List.of(new ScoreRecord.Candidate(label, confidence))),
                new ScoreRecord.Answerer(1L, "r1", "ab", 0.5), null);
    }

    /** {@code n} requests: the serving model says {@code serving[i % len]}, the candidate {@code candidate[i % len]}, with those confidences. */
    static ShadowTally tally(String sha, int n, String[] serving, double servingConfidence, String[] candidate, double candidateConfidence) {
        ShadowTally t = new ShadowTally(sha);
        for (int i = 0; i < n; i++) t.add(said(serving[i % serving.length], servingConfidence), said(candidate[i % candidate.length], candidateConfidence), true);
        return t;
    }

    static final String[] DIGITS = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

    @Test
    void verdicts() {
        String[] mostlySame = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "8"}; // differs on 10% (9 -> 8)
        assertTrue(tally("c", 100, DIGITS, 0.6, mostlySame, 0.5).verdict(SHADOW).promote(), "agrees on 90%");
        String[] halfDifferent = {"0", "1", "2", "3", "4", "6", "7", "8", "9", "5"};
        ShadowTally.Verdict surer = tally("c", 100, DIGITS, 0.6, halfDifferent, 0.95).verdict(SHADOW);
        assertTrue(surer.promote(), surer.reason());
        assertEquals("agreed on 50% of 100 requests; where they differ its confidence is 0.95 against 0.60", surer.reason());
        assertFalse(tally("c", 100, DIGITS, 0.9, halfDifferent, 0.6).verdict(SHADOW).promote(), "less confident where they differ");

        ShadowTally.Verdict collapsed = tally("c", 100, DIGITS, 0.6, new String[]{"3"}, 1.0).verdict(SHADOW);
        assertFalse(collapsed.promote());
        assertEquals("collapsed onto class 3: 100% of 100 requests, against 10% from the serving model", collapsed.reason());
        // skewed traffic: the serving model says 7 to 80% of it, the candidate to all of it, confidently; not a collapse
        String[] sevens = {"7", "7", "7", "7", "7", "7", "7", "7", "1", "2"};
        assertTrue(tally("c", 100, sevens, 0.6, new String[]{"7"}, 0.99).verdict(SHADOW).promote());

        ShadowTally failing = tally("c", 50, DIGITS, 0.6, DIGITS, 0.6);
        failing.add(said("1", 0.6), ScoreRecord.error("id", "x.png", "the candidate could not be loaded: checksum"), true);
        assertEquals("failed on 1 of 51 requests the serving model answered (the candidate could not be loaded: checksum)", failing.verdict(SHADOW).reason());
        ShadowTally nan = tally("c", 50, DIGITS, 0.6, DIGITS, 0.6);
        nan.add(said("1", 0.6), said("1", Double.NaN), false);
        assertFalse(nan.verdict(SHADOW).promote());
    }

    @Test
    void talliesOfTheSameCandidateAddUpAndOthersAreIgnored() {
        ShadowTally sum = tally("c", 30, DIGITS, 0.6, DIGITS, 0.6).plus(tally("c", 20, DIGITS, 0.6, new String[]{"3"}, 1.0)).plus(tally("other", 500, DIGITS, 0.6, DIGITS, 0.6));
        assertEquals(50, sum.requests());
        assertEquals(0.6 + 0.4 * 0.1, sum.agreement(), 1e-9);
    }

    @Test
    void aWindowClosesOnItsRequestsOrItsTimeButNotOnTooFewRequests() {
        AtomicLong now = new AtomicLong();
        Promoter p = new Promoter(SHADOW, now::get);
        assertFalse(p.seen(pointer(100)), "the first best serves at once");
        assertTrue(p.seen(pointer(200)));
        assertEquals(new Promoter.Plan(pointer(100), pointer(200)), p.plan());
        p.record(tally(pointer(200).sha256(), 99, DIGITS, 0.6, DIGITS, 0.6));
        assertTrue(p.decide().isEmpty(), "99 of 100 requests");
        p.record(tally(pointer(200).sha256(), 1, DIGITS, 0.6, DIGITS, 0.6));
        Promoter.Decision d = p.decide().orElseThrow();
        assertTrue(d.promoted());
        assertEquals(new Promoter.Plan(pointer(200), null), p.plan());
        assertTrue(d.line().startsWith("promoted candidate step 200 of run r1 (dev accuracy 52.0%) after shadowing step 100 of run r1 for 100 requests"), d.line());
        assertEquals("promoted", d.record().get("event"));

        assertTrue(p.seen(pointer(300)));
        p.record(tally(pointer(300).sha256(), 5, DIGITS, 0.6, DIGITS, 0.6));
        now.addAndGet(Duration.ofSeconds(61).toNanos());
        assertTrue(p.decide().isEmpty(), "5 requests say nothing, whatever the time");
        assertTrue(p.status().contains("pending: waits for 20 requests at least"), p.status());
        p.record(tally(pointer(300).sha256(), 15, DIGITS, 0.6, new String[]{"3"}, 1.0));
        Promoter.Decision refused = p.decide().orElseThrow();
        assertFalse(refused.promoted(), refused.line());
        assertFalse(p.seen(pointer(300)), "a refused checkpoint is not tried again");
        assertNull(p.plan().candidate());
    }

    @Test
    void aNewerBestReplacesAPendingCandidate() {
        Promoter p = new Promoter(SHADOW, () -> 0);
        p.seen(pointer(100));
        p.seen(pointer(200));
        p.record(tally(pointer(200).sha256(), 60, DIGITS, 0.6, DIGITS, 0.6));
        assertTrue(p.seen(pointer(300)));
        p.record(tally(pointer(200).sha256(), 60, DIGITS, 0.6, DIGITS, 0.6)); // late answers of the replaced one
        assertTrue(p.decide().isEmpty());
        assertTrue(p.status().startsWith("candidate step 300 of run r1 (dev accuracy 53.0%) shadowing step 100 of run r1: 0 of 100 requests"), p.status());
    }
}
