package org.livetrain.ps;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * A key in synchronous mode: for each round, the sum of every worker's push. A pull of a round is answered
 * once every worker has pushed it, and the round is forgotten once every worker has pulled it. Rounds are
 * independent, so the next round's pushes may arrive before the last pull of the previous one.
 */
final class RoundSums implements Key {
    private final int key;
    private final int workers;
    /** Workers whose connection closed, shared by every key of the shard. */
    private final Set<Integer> gone;
    private final Map<Long, Round> rounds = new HashMap<>();

    private final class Round {
        final long created = System.nanoTime();
        final boolean[] pushedBy = new boolean[workers];
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

    RoundSums(int key, int workers, Set<Integer> gone) {
        this.key = key;
        this.workers = workers;
        this.gone = gone;
    }

    @Override
    public void push(int worker, long round, float[] values) {
        Round r = rounds.computeIfAbsent(round, k -> new Round());
        if (r.pushedBy[worker]) throw new IllegalStateException("worker " + worker + " pushed key " + key + " round " + round + " twice");
        if (r.sum == null) {
            r.sum = values;
        } else {
            add(values, r.sum);
        }
        r.pushedBy[worker] = true;
        r.pushed++;
        if (r.complete()) {
            for (Reply p : r.waiting) answer(round, r, p);
            r.waiting.clear();
        }
    }

    @Override
    public void pull(long round, Reply reply) {
        Round r = rounds.computeIfAbsent(round, k -> new Round());
        if (r.complete()) {
            answer(round, r, reply);
        } else if (r.missing() >= 0) {
            reply.error("key " + key + " round " + round + ": worker " + r.missing() + " disconnected before pushing");
        } else {
            r.waiting.add(reply);
        }
    }

    private void answer(long round, Round r, Reply reply) {
        reply.values(r.sum);
        if (++r.pulled == workers) rounds.remove(round);
    }

    @Override
    public List<String> workerGone(int worker) {
        return fail(r -> !r.pushedBy[worker], "worker " + worker + " disconnected before pushing");
    }

    @Override
    public List<String> expire(Duration timeout) {
        long limit = System.nanoTime() - timeout.toNanos();
        return fail(r -> r.created < limit, "round not complete after " + timeout.toSeconds() + " s (a worker is missing)");
    }

    /** Fails, and forgets, the incomplete rounds that match. */
    private List<String> fail(Predicate<Round> which, String why) {
        List<String> failed = new ArrayList<>();
        for (Iterator<Map.Entry<Long, Round>> it = rounds.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Round> e = it.next();
            Round r = e.getValue();
            if (r.complete() || !which.test(r)) continue;
            String msg = "key " + key + " round " + e.getKey() + ": " + why;
            for (Reply p : r.waiting) p.error(msg);
            it.remove();
            failed.add(msg);
        }
        return failed;
    }

    /** Adds {@code values} into {@code sum}; the counts must match. */
    static void add(float[] values, float[] sum) {
        if (values.length != sum.length) throw new IllegalStateException("a push of " + values.length + " values to a key of " + sum.length);
        for (int i = 0; i < sum.length; i++) sum[i] += values[i];
    }
}
