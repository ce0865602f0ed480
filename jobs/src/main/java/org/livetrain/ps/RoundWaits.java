package org.livetrain.ps;

import java.util.concurrent.atomic.LongAdder;

/**
 * How long a shard's rounds waited for their workers: from a key round's first request to its last push,
 * the time the fastest worker's pull waits for the slowest worker (plus the transfer of the pushes between).
 * Written by the shard's event loop, read by whoever reports it.
 */
public final class RoundWaits {
    private final LongAdder nanos = new LongAdder(), rounds = new LongAdder();

    void add(long waitNanos) {
        nanos.add(waitNanos);
        rounds.increment();
    }

    public long nanos() {
        return nanos.sum();
    }

    public long rounds() {
        return rounds.sum();
    }
}
