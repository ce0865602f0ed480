package org.livetrain.ps;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * A key in synchronous mode: for each round, the sum of every worker's push. A pull of a round is answered
 * once every worker has pushed it, and the round is forgotten once every worker has pulled it. Rounds are
 * independent, so the next round's pushes may arrive before the last pull of the previous one.
 *
 * <p>Bounded: a round is accepted only within {@link #WINDOW} of the newest one and after the last one
 * forgotten; each worker pushes and pulls a round once; a round that is not over within the timeout is
 * failed and forgotten, complete or not. Values are checked before anything is added.
 */
final class RoundSums implements Key {
    /** How far ahead of the newest round a request may be (workers are at most one round apart). */
    static final int WINDOW = 4;
    private final int key;
    private final int workers;
    private final int length;
    /** Workers whose connection closed, shared by every key of the shard. */
    private final Set<Integer> gone;
    /** Where a complete round's wait (its first request to its last push) is added, for the whole shard. */
    private final RoundWaits waits;
    private final Map<Long, Round> rounds = new HashMap<>();
    /** Why the last few failed rounds failed: a request that arrives after the failure gets the same answer. */
    private final Map<Long, String> failures = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, String> eldest) {
            return size() > 2 * WINDOW;
        }
    };
    private long newest = Long.MIN_VALUE, forgotten = Long.MIN_VALUE;

    private final class Round {
        final long created = System.nanoTime();
        final boolean[] pushedBy = new boolean[workers], pulledBy = new boolean[workers];
        float[] sum;
        int pushed, pulled;
        final List<Reply> waiting = new ArrayList<>();

        boolean complete() {
            return pushed == workers;
        }

        /** A worker that went away before pushing this round, or -1. */
        int missing() {
            for (int w : gone) if (!pushedBy[w]) return w;
            return -1;
        }
    }

    RoundSums(int key, int workers, int length, Set<Integer> gone, RoundWaits waits) {
        this.waits = waits;
        this.key = key;
        this.workers = workers;
        this.length = length;
        this.gone = gone;
    }

    @Override
    public void push(int worker, long round, float[] values) {
        if (values.length != length) throw new IllegalStateException("a push of " + values.length + " values to key " + key + " of " + length);
        Round r = round(round);
        if (r.pushedBy[worker]) throw new IllegalStateException("worker " + worker + " pushed key " + key + " round " + round + " twice");
        if (r.sum == null) {
            r.sum = values;
        } else {
            for (int i = 0; i < length; i++) r.sum[i] += values[i];
        }
        r.pushedBy[worker] = true;
        r.pushed++;
        if (r.complete()) {
            waits.add(System.nanoTime() - r.created);
            for (Reply p : r.waiting) answer(round, r, p);
            r.waiting.clear();
        }
    }

    @Override
    public void pull(int worker, long round, Reply reply) {
        Round r = round(round);
        if (r.pulledBy[worker]) throw new IllegalStateException("worker " + worker + " pulled key " + key + " round " + round + " twice");
        r.pulledBy[worker] = true;
        if (r.complete()) {
            answer(round, r, reply);
        } else if (r.missing() >= 0) {
            reply.error("key " + key + " round " + round + ": worker " + r.missing() + " disconnected before pushing");
        } else {
            r.waiting.add(reply);
        }
    }

    /** The round, created when it is new and within the window. */
    private Round round(long round) {
        Round r = rounds.get(round);
        if (r != null) return r;
        if (failures.containsKey(round)) throw new IllegalStateException(failures.get(round));
        if (round <= forgotten) throw new IllegalStateException("key " + key + " round " + round + " is over");
        if (newest != Long.MIN_VALUE && round > newest + WINDOW) {
            throw new IllegalStateException("key " + key + " round " + round + " is too far ahead of round " + newest);
        }
        newest = Math.max(newest, round);
        r = new Round();
        rounds.put(round, r);
        return r;
    }

    private void answer(long round, Round r, Reply reply) {
        reply.values(r.sum);
        if (++r.pulled == workers) forget(round);
    }

    private void forget(long round) {
        rounds.remove(round);
        forgotten = Math.max(forgotten, round);
    }

    @Override
    public List<String> workerGone(int worker) {
        return fail(r -> !r.complete() && !r.pushedBy[worker], "worker " + worker + " disconnected before pushing");
    }

    @Override
    public List<String> expire(Duration timeout) {
        long limit = System.nanoTime() - timeout.toNanos();
        return fail(r -> r.created < limit, "round not complete after " + timeout.toSeconds() + " s (a worker is missing)");
    }

    /** Fails, and forgets, the rounds that match; a complete round nobody waits on goes quietly. */
    private List<String> fail(Predicate<Round> which, String why) {
        List<String> failed = new ArrayList<>();
        for (Iterator<Map.Entry<Long, Round>> it = rounds.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Round> e = it.next();
            Round r = e.getValue();
            if (!which.test(r)) continue;
            it.remove();
            forgotten = Math.max(forgotten, e.getKey());
            if (r.complete()) continue;
            String msg = "key " + key + " round " + e.getKey() + ": " + why;
            failures.put(e.getKey(), msg);
            for (Reply p : r.waiting) p.error(msg);
            failed.add(msg);
        }
        return failed;
    }
}
