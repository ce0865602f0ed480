package org.livetrain.serving;

import org.livetrain.LiveTrainException;

import java.io.Serializable;
import java.time.Duration;
import java.util.Locale;

/**
 * How a newly published best checkpoint reaches serving.
 * <pre>
 * immediate  the new best answers from the next request on (the prompt's default: a person watching training
 *            live wants the newest model, and sees each change as a line above the prompt)
 * shadow     the new best is a candidate: it scores the same live requests as the serving model, whose answers
 *            still go out (the candidate's beside them), for a window of {@code windowRequests} requests or
 *            {@code windowTime}, whichever comes first, but never on fewer than {@link #MIN_EVIDENCE} requests
 *            (with no traffic it stays pending); then {@link ShadowTally#verdict} promotes or refuses it
 *            (the Kafka scorer's default: its answers drive downstream actions, and dev accuracy is measured on
 *            the data set's dev split, not on these requests)
 * </pre>
 * @param agreement promoted at once when it agrees with the serving model on at least this share of requests
 * @param collapse  refused when it gives one class to a share of the requests at least this much larger than the
 *                  serving model gives that class on the same requests (live traffic may be skewed: only the
 *                  difference counts)
 */
public record Promotion(Mode mode, long windowRequests, Duration windowTime, double agreement, double collapse) implements Serializable {
    public enum Mode { IMMEDIATE, SHADOW }

    /** The fewest requests a decision is taken on, whatever the window: fewer say nothing about a collapse. */
    public static final long MIN_EVIDENCE = 20;
    public static final long DEFAULT_WINDOW = 200;
    public static final Duration DEFAULT_TIME = Duration.ofSeconds(60);
    public static final double DEFAULT_AGREEMENT = 0.9;
    public static final double DEFAULT_COLLAPSE = 0.3;
    public static final Promotion IMMEDIATE = new Promotion(Mode.IMMEDIATE, DEFAULT_WINDOW, DEFAULT_TIME, DEFAULT_AGREEMENT, DEFAULT_COLLAPSE);

    public Promotion {
        if (windowRequests < 1) throw new LiveTrainException("--shadow-requests " + windowRequests + ": must be at least 1");
        if (windowTime.isNegative() || windowTime.isZero()) throw new LiveTrainException("--shadow-seconds " + windowTime.toSeconds() + ": must be positive");
        if (!(agreement > 0 && agreement <= 1)) throw new LiveTrainException("--shadow-agreement " + agreement + ": must be in (0, 1]");
    }

    /** {@code immediate} or {@code shadow}, as the option gives it. */
    public static Mode mode(String option, String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "immediate" -> Mode.IMMEDIATE;
            case "shadow" -> Mode.SHADOW;
            default -> throw new LiveTrainException(option + " " + value + ": must be immediate or shadow");
        };
    }

    public boolean shadow() {
        return mode == Mode.SHADOW;
    }

    /** The requests a window needs before its time alone may close it. */
    long evidence() {
        return Math.min(windowRequests, MIN_EVIDENCE);
    }

    /** {@code shadow (200 requests or 60 s)} or {@code immediate}. */
    public String describe() {
        return shadow() ? "shadow (" + windowRequests + " requests or " + windowTime.toSeconds() + " s)" : "immediate";
    }
}
