package org.livetrain;

import java.util.Optional;
import java.util.function.Supplier;

/**
 * An error the user can act on and no retry can fix: bad input, a configuration that cannot work,
 * storage that refuses (permission, quota), data that is corrupt. Its message is one line that names the
 * input and what is wrong with it; the command line prints the message alone, without a stack trace,
 * and exits with 2. A training job never retries it. Errors that a retry may get past (a lost executor, a
 * connection refused, a timeout) are other exceptions.
 */
public class LiveTrainException extends RuntimeException {
    public LiveTrainException(String message) {
        super(message);
    }

    public LiveTrainException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * Runs {@code work}, whose errors name the value given for a command-line {@code option}; such an error
     * is reported as about the option: {@code --option value: problem}. The library reports values and
     * paths, the command line names its flags.
     */
    public static <T> T about(String option, Supplier<T> work) {
        try {
            return work.get();
        } catch (LiveTrainException e) {
            throw new LiveTrainException(option + " " + e.getMessage(), e);
        }
    }

    /** The first such error in a cause chain (Spark and executors wrap what they throw), if any. */
    public static Optional<LiveTrainException> in(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof LiveTrainException lte) return Optional.of(lte);
            if (c.getCause() == c) break;
        }
        return Optional.empty();
    }
}
