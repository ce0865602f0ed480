package org.livetrain.ps;

import java.time.Duration;
import java.util.List;

/**
 * What one key of a server shard does with pushes and pulls: {@link RoundSums} (synchronous rounds) or
 * {@link Weights} (asynchronous mode). Only the server's event-loop thread calls a key, so keys hold no locks.
 */
interface Key {
    /**
     * Takes a worker's values for a round. A request that cannot be honoured throws {@link IllegalStateException}
     * before anything changes.
     */
    void push(int worker, long round, float[] values);

    /** Answers now, or once the key can. */
    void pull(int worker, long round, Reply reply);

    /** A worker's connection closed: fails what waits for it; returns what was failed, to be logged. */
    List<String> workerGone(int worker);

    /** Fails what has waited longer than {@code timeout}; returns what was failed, to be logged. */
    List<String> expire(Duration timeout);
}
