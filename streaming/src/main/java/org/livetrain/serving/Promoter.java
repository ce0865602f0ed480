package org.livetrain.serving;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.livetrain.store.Pointer;

import java.io.Serializable;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * Where a shadowed candidate is promoted or refused: one per serving process (the prompt's JVM, the Kafka
 * scorer's driver), never per executor, so every executor follows the same {@link Plan}.
 * <pre>
 * state       serving S, candidate C (or none), C's window: since when, its {@link ShadowTally}
 * seen(best)  no S: S = best.  best is S, C, or the candidate refused last: nothing.  else: C = best, a new
 *             window (a newer best replaces a pending candidate, whose window is dropped)
 * record(t)   a tally of C's answers joins its window (a tally of another candidate is ignored)
 * decide()    the window holds policy.windowRequests requests, or policy.windowTime passed and it holds at
 *             least {@link Promotion#MIN_EVIDENCE}: promoted (S = C) or refused (remembered: the same
 *             checkpoint is not tried again; a later best is); C = none
 * plan()      (S, C): what the executors answer with and what they shadow
 * </pre>
 */
public final class Promoter {
    /** What a restarted scorer takes up again: the model promoted last (or served first), and the candidate refused last. */
    public record State(@JsonProperty("serving") Pointer serving, @JsonProperty("refused_sha256") String refused) {
    }

    /** What to answer with, and what to score beside it (null: nothing). */
    public record Plan(Pointer serving, Pointer candidate) implements Serializable {
    }

    /** A candidate promoted or refused, with the figures of its window. */
    public record Decision(boolean promoted, Pointer candidate, Pointer serving, long requests, double agreement, double windowSeconds,
                           String reason, Instant at) {
        /** One line for a log or a terminal. */
        public String line() {
            return String.format(Locale.ROOT, "%s candidate %s (dev accuracy %.1f%%) after shadowing %s for %d requests in %.0f s: %s",
                    promoted ? "promoted" : "refused", candidate.describe(), 100 * candidate.devAccuracy(), serving.describe(), requests, windowSeconds, reason);
        }

        /** Its record in {@code serving-stats.jsonl}. */
        public Map<String, Object> record() {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("time", at.toString());
            r.put("event", promoted ? "promoted" : "refused");
            r.put("candidate", model(candidate));
            r.put("serving", model(serving));
            r.put("requests", requests);
            r.put("agreement", agreement);
            r.put("window_seconds", windowSeconds);
            r.put("reason", reason);
            return r;
        }

        private static Map<String, Object> model(Pointer p) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", p.step());
            m.put("run", p.run());
            m.put("sha256", p.sha256());
            m.put("dev_accuracy", p.devAccuracy());
            return m;
        }
    }

    private final Promotion policy;
    private final LongSupplier nanos;
    private Pointer serving, candidate;
    private String refused;
    private long windowStart;
    private ShadowTally window;

    public Promoter(Promotion policy) {
        this(policy, System::nanoTime);
    }

    Promoter(Promotion policy, LongSupplier nanos) {
        this.policy = policy;
        this.nanos = nanos;
    }

    public Promotion policy() {
        return policy;
    }

    /** The newest best checkpoint; returns whether it became the candidate. */
    public synchronized boolean seen(Pointer best) {
        if (serving == null) {
            serving = best;
            return false;
        }
        String sha = best.sha256();
        if (sha.equals(serving.sha256()) || sha.equals(refused) || candidate != null && sha.equals(candidate.sha256())) return false;
        candidate = best;
        windowStart = nanos.getAsLong();
        window = new ShadowTally(sha);
        return true;
    }

    /** Serves {@code p} (the model a prompt loaded before any window, or after its candidate was dropped). */
    public synchronized void serving(Pointer p) {
        serving = p;
    }

    public synchronized Plan plan() {
        return new Plan(serving, candidate);
    }

    public synchronized void record(ShadowTally t) {
        if (window != null && t != null) window.plus(t);
    }

    /** Drops the candidate without a verdict (it could not be loaded here, say); it is not tried again. */
    public synchronized void drop() {
        if (candidate != null) refused = candidate.sha256();
        candidate = null;
        window = null;
    }

    /** The decision on the candidate, when its window is complete. */
    public synchronized Optional<Decision> decide() {
        if (candidate == null) return Optional.empty();
        long n = window.requests();
        double seconds = (nanos.getAsLong() - windowStart) / 1e9;
        boolean full = n >= policy.windowRequests() || seconds >= policy.windowTime().toNanos() / 1e9 && n >= policy.evidence();
        if (!full) return Optional.empty();
        ShadowTally.Verdict v = window.verdict(policy);
        Decision d = new Decision(v.promote(), candidate, serving, n, window.agreement(), seconds, v.reason(), Instant.now());
        if (v.promote()) serving = candidate;
        else refused = candidate.sha256();
        candidate = null;
        window = null;
        return Optional.of(d);
    }

    /** {@code candidate step 300 of run R: 45 of 200 requests in 12 s} or {@code no candidate}, for a status line. */
    public synchronized String status() {
        if (candidate == null) return "promotion " + policy.describe() + ": no candidate";
        long n = window.requests();
        double seconds = (nanos.getAsLong() - windowStart) / 1e9;
        String pending = n < policy.evidence() && seconds >= policy.windowTime().toSeconds()
                ? String.format(Locale.ROOT, "; pending: waits for %d requests at least", policy.evidence()) : "";
        return String.format(Locale.ROOT, "candidate %s (dev accuracy %.1f%%) shadowing %s: %d of %d requests in %.0f of %d s%s",
                candidate.describe(), 100 * candidate.devAccuracy(), serving.describe(), n, policy.windowRequests(), seconds,
                policy.windowTime().toSeconds(), pending);
    }

    public synchronized State state() {
        return new State(serving, refused);
    }

    /** Takes up a state saved before a restart: its serving model (when it could be loaded) and its refusal. */
    public synchronized void restore(State s, boolean servingLoaded) {
        if (servingLoaded) serving = s.serving();
        refused = s.refused();
    }

    /** Whether {@code sha} is the candidate refused last. */
    public synchronized boolean refused(String sha) {
        return Objects.equals(refused, sha);
    }
}
