package org.livetrain.ps;

/** A failed exchange with the summation service: a dead peer, a timeout, a refused connection. */
public final class PsException extends RuntimeException {
    public PsException(String message) {
        super(message);
    }

    public PsException(String message, Throwable cause) {
        super(message, cause);
    }
}
