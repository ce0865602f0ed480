package org.livetrain.serving;

import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * How a candidate model answered the live requests the serving model answered, request by request: agreement,
 * confidence where the two differ, the classes each gave, the candidate's failures. Tallies of the same
 * candidate add up (an executor's task sends its own to the driver, which decides on their sum).
 */
public final class ShadowTally implements Serializable {
    private static final long serialVersionUID = 1L;

    /** A verdict: promote or not, and why in a few words with the figures. */
    public record Verdict(boolean promote, String reason) {
    }

    private final String candidate;
    private long requests, agree, differ, failed, nonFinite;
    private double candidateConfidence, servingConfidence; // summed where they differ
    private String firstFailure;
    private final TreeMap<String, Long> candidateClasses = new TreeMap<>(), servingClasses = new TreeMap<>();

    /** @param candidate the candidate's checkpoint sha256 */
    public ShadowTally(String candidate) {
        this.candidate = candidate;
    }

    public String candidate() {
        return candidate;
    }

    public synchronized long requests() {
        return requests;
    }

    /**
     * One request the serving model answered: the candidate's answer to it (an error record when it could not
     * answer); {@code finite} whether every one of the candidate's outputs was a number.
     */
    public synchronized void add(ScoreRecord serving, ScoreRecord candidate, boolean finite) {
        requests++;
        servingClasses.merge(serving.prediction(), 1L, Long::sum);
        if (!candidate.ok()) {
            if (failed++ == 0) firstFailure = candidate.error();
            return;
        }
        if (!finite) {
            nonFinite++;
            return;
        }
        candidateClasses.merge(candidate.prediction(), 1L, Long::sum);
        if (candidate.prediction().equals(serving.prediction())) {
            agree++;
        } else {
            differ++;
            candidateConfidence += candidate.confidence();
            servingConfidence += serving.confidence();
        }
    }

    /** Adds another tally of the same candidate (a different candidate's is ignored). */
    public synchronized ShadowTally plus(ShadowTally o) {
        if (o == null || !candidate.equals(o.candidate)) return this;
        synchronized (o) {
            requests += o.requests;
            agree += o.agree;
            differ += o.differ;
            failed += o.failed;
            nonFinite += o.nonFinite;
            candidateConfidence += o.candidateConfidence;
            servingConfidence += o.servingConfidence;
            if (firstFailure == null) firstFailure = o.firstFailure;
            o.candidateClasses.forEach((k, v) -> candidateClasses.merge(k, v, Long::sum));
            o.servingClasses.forEach((k, v) -> servingClasses.merge(k, v, Long::sum));
        }
        return this;
    }

    /** The share of requests on which both gave the same class. */
    public synchronized double agreement() {
        return requests == 0 ? 0 : agree / (double) requests;
    }

    /**
     * Refused when it failed on a request the serving model answered, gave a non-finite output, or gave one
     * class to a share of the requests {@code policy.collapse()} larger than the serving model gave it; else
     * promoted when it agrees on {@code policy.agreement()} of the requests or is the more confident of the two
     * where they differ.
     */
    public synchronized Verdict verdict(Promotion policy) {
        if (failed > 0) return new Verdict(false, String.format(Locale.ROOT, "failed on %d of %d requests the serving model answered (%s)", failed, requests, firstFailure));
        if (nonFinite > 0) return new Verdict(false, String.format(Locale.ROOT, "gave non-finite outputs for %d of %d requests", nonFinite, requests));
        Map.Entry<String, Long> most = candidateClasses.entrySet().stream().max(Map.Entry.comparingByValue()).orElse(null);
        if (most != null) {
            double share = most.getValue() / (double) requests, servingShare = servingClasses.getOrDefault(most.getKey(), 0L) / (double) requests;
            if (share - servingShare >= policy.collapse()) {
                return new Verdict(false, String.format(Locale.ROOT, "collapsed onto class %s: %.0f%% of %d requests, against %.0f%% from the serving model",
                        most.getKey(), 100 * share, requests, 100 * servingShare));
            }
        }
        double agreement = agreement();
        if (agreement >= policy.agreement()) return new Verdict(true, String.format(Locale.ROOT, "agreed on %.0f%% of %d requests", 100 * agreement, requests));
        double mine = candidateConfidence / differ, theirs = servingConfidence / differ;
        String where = String.format(Locale.ROOT, "agreed on %.0f%% of %d requests; where they differ its confidence is %.2f against %.2f", 100 * agreement, requests, mine, theirs);
        return mine > theirs ? new Verdict(true, where) : new Verdict(false, where);
    }
}
