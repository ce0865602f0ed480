package org.livetrain.ps;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A key in asynchronous mode ({@code --async}): the server holds its weights. The first push sets them
 * (a worker seeds them from its replica), every later push adds a worker's own step to them; a pull gets
 * the weights as they are, and one that comes before the first push waits for it.
 */
final class Weights implements Key {
    /** Pulls that may wait for the seed: a few per worker is plenty. */
    static final int MAX_WAITING = 256;
    private final int key;
    private final int length;
    private float[] weights;
    private final List<Reply> waiting = new ArrayList<>();
    private long waitingSince;

    Weights(int key, int length) {
        this.key = key;
        this.length = length;
    }

    @Override
    public void push(int worker, long round, float[] values) {
        if (values.length != length) throw new IllegalStateException("a push of " + values.length + " values to key " + key + " of " + length);
        if (weights != null) {
            for (int i = 0; i < length; i++) weights[i] += values[i];
            return;
        }
        weights = values;
        for (Reply r : waiting) r.values(weights);
        waiting.clear();
    }

    @Override
    public void pull(int worker, long round, Reply reply) {
        if (weights != null) {
            reply.values(weights);
            return;
        }
        if (waiting.size() >= MAX_WAITING) throw new IllegalStateException("key " + key + ": too many pulls wait for its weights");
        if (waiting.isEmpty()) waitingSince = System.nanoTime();
        waiting.add(reply);
    }

    @Override
    public List<String> workerGone(int worker) {
        return List.of(); // nothing waits for one worker in particular; a missing seed expires
    }

    @Override
    public List<String> expire(Duration timeout) {
        if (waiting.isEmpty() || System.nanoTime() - waitingSince < timeout.toNanos()) return List.of();
        String msg = "key " + key + ": no weights after " + timeout.toSeconds() + " s (the worker that seeds them is missing)";
        for (Reply r : waiting) r.error(msg);
        waiting.clear();
        return List.of(msg);
    }
}
