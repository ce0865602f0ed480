package org.livetrain;

/**
 * An error the user can act on: its message is one line that names the input and what is wrong
 * with it. The command line prints the message alone, without a stack trace.
 */
public class LiveTrainException extends RuntimeException {
    public LiveTrainException(String message) {
        super(message);
    }

    public LiveTrainException(String message, Throwable cause) {
        super(message, cause);
    }
}
