package org.livetrain.cli;

import org.livetrain.serving.Promotion;
import picocli.CommandLine.Option;

import java.time.Duration;

/** {@code --promotion} and its shadow window, the same for the prompt and the Kafka scorer (whose defaults differ: {@link Promotion}). */
public final class PromotionOptions {
    @Option(names = "--promotion", paramLabel = "MODE",
            description = "How a new best checkpoint starts answering: immediate, or shadow (it first scores the same live requests beside the serving model, "
                    + "whose answers still go out, and is promoted only if it agrees or is more confident where they differ, and is not broken). "
                    + "Default: shadow for stream, immediate for the prompt.")
    String mode;

    @Option(names = "--shadow-requests", paramLabel = "N", defaultValue = "" + Promotion.DEFAULT_WINDOW,
            description = "A candidate's window closes after this many requests ...")
    long requests;

    @Option(names = "--shadow-seconds", paramLabel = "SECONDS", defaultValue = "" + 60,
            description = "... or after this long, if it holds " + Promotion.MIN_EVIDENCE + " requests at least (until then it stays pending).")
    long seconds;

    @Option(names = "--shadow-agreement", paramLabel = "SHARE", defaultValue = "" + Promotion.DEFAULT_AGREEMENT,
            description = "A candidate agreeing with the serving model on at least this share of its window's requests is promoted (unless it collapsed onto one class).")
    double agreement;

    /** The policy, with {@code defaultMode} unless --promotion names one. */
    Promotion policy(Promotion.Mode defaultMode) {
        Promotion.Mode m = mode == null ? defaultMode : Promotion.mode("--promotion", mode);
        return new Promotion(m, requests, Duration.ofSeconds(seconds), agreement, Promotion.DEFAULT_COLLAPSE);
    }
}
