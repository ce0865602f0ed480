package org.livetrain.store;

import org.livetrain.LiveTrainException;

/**
 * A checkpoint whose bytes were read and are wrong: checksum mismatch, a contract this LiveTrain cannot
 * honour, not a loadable model. Reading it again gives the same answer; a missing or unreadable file may not.
 */
public final class CorruptCheckpointException extends LiveTrainException {
    public CorruptCheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
