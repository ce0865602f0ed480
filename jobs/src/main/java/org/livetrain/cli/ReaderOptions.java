package org.livetrain.cli;

import org.livetrain.image.ImagePreprocessor;
import picocli.CommandLine.Option;

import java.time.Duration;

/** Options of the terminal reader ({@code terminal}, {@code train --live}). */
public final class ReaderOptions {
    @Option(names = "--json", description = "Print one JSON record per request (the Kafka scorer's fields) instead of the human answer.")
    boolean json;

    @Option(names = "--poll", paramLabel = "SECONDS", defaultValue = "1", description = "How often best.json is checked for a better model.")
    double pollSeconds;

    @Option(names = "--max-pixels", paramLabel = "N", defaultValue = "" + ImagePreprocessor.DEFAULT_MAX_PIXELS,
            description = "Images with more pixels than this are refused before decoding.")
    long maxPixels;

    Duration poll() {
        return Duration.ofMillis(Math.max(10, Math.round(pollSeconds * 1000)));
    }

    static boolean interactive() {
        return System.console() != null;
    }
}
