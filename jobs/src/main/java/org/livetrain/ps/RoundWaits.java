package org.livetrain.ps;

import org.livetrain.metrics.Readings;

import java.util.concurrent.atomic.LongAdder;

/**
 * How long a shard's rounds waited for their workers: from a key round's first request to its last push,
 * the time the fastest worker's pull waits for the slowest worker (plus the transfer of the pushes between);
 * and the highest round pushed so far. Written by the shard's event loop, read by whoever reports it.
 */
public final class RoundWaits {
    private final LongAdder nanos = new LongAdder(), rounds = new LongAdder();
    private volatile long highestRound = -1;

    void pushed(long round) {
        if (round > highestRound) highestRound = round;
    }

    /** The highest round any worker has pushed to this shard, or -1. */
    public long highestRound() {
        return highestRound;
    }

    void add(long waitNanos) {
        nanos.add(waitNanos);
        rounds.increment();
        Readings.Worker.SERVER_ROUNDS.add(1);
        Readings.Worker.SERVER_WAIT_SECONDS.add(waitNanos / 1e9);
    }

    public long nanos() {
        return nanos.sum();
    }

    public long rounds() {
        return rounds.sum();
    }
}
