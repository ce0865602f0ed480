package org.livetrain.cli;

import org.livetrain.serving.Promotion;
import org.livetrain.terminal.PipedPrompt;
import org.livetrain.terminal.PromptIO;
import org.livetrain.terminal.ReaderSettings;
import org.livetrain.terminal.ShellPrompt;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;

/** Options of the terminal reader ({@code terminal}, {@code train --live}). */
public final class ReaderOptions {
    @Option(names = "--json", description = "Print one JSON record per request (the Kafka scorer's fields) instead of the human answer.")
    boolean json;

    @Option(names = "--poll", paramLabel = "SECONDS", defaultValue = "1", description = "How often best.json is checked for a better model.")
    double pollSeconds;

    @Mixin
    ImageLimitOptions limits;

    @Mixin
    PromotionOptions promotion;

    @Option(names = "--save-inputs", paramLabel = "DIR", description = "Write the input the network was given for each answered file"
            + " as a PNG in DIR (named after the request), and name it in the answer.")
    Path saveInputs;

    Duration poll() {
        return Duration.ofMillis(Math.max(10, Math.round(pollSeconds * 1000)));
    }

    /** The prompt's settings, for a person at a terminal or not. */
    ReaderSettings settings(boolean interactive) {
        return new ReaderSettings(poll(), limits.limits(), limits.allowedRoots, json, saveInputs, interactive, promotion.policy(Promotion.Mode.IMMEDIATE));
    }

    /** A person's terminal when there is one (and no --json): line editing, history, completion; else the piped streams as they are. */
    PromptIO prompt(LiveTrain top) {
        boolean console = interactive() && top.in == System.in && top.out == System.out;
        return console && !json ? ShellPrompt.system() : new PipedPrompt(top.in, top.out, top.err, json);
    }

    static boolean interactive() {
        return System.console() != null;
    }
}
