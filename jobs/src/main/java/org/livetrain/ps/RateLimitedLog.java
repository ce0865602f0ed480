package org.livetrain.ps;

import org.slf4j.Logger;

import java.time.Duration;

/** A warning logged at most once per interval, with the number of the same kind left out since the last one. */
final class RateLimitedLog {
    private final Logger log;
    private final long everyNanos;
    private long last = Long.MIN_VALUE;
    private int suppressed;

    RateLimitedLog(Logger log, Duration every) {
        this.log = log;
        this.everyNanos = every.toNanos();
    }

    synchronized void warn(String format, Object... args) {
        long now = System.nanoTime();
        if (last != Long.MIN_VALUE && now - last < everyNanos) {
            suppressed++;
            return;
        }
        log.warn(suppressed == 0 ? format : format + " ({} more like it not logged)", suppressed == 0 ? args : append(args, suppressed));
        last = now;
        suppressed = 0;
    }

    private static Object[] append(Object[] args, Object more) {
        Object[] out = new Object[args.length + 1];
        System.arraycopy(args, 0, out, 0, args.length);
        out[args.length] = more;
        return out;
    }
}
