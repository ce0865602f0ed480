package org.livetrain.ps;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * BytePS's intra-host step: the worker tasks that run in one JVM sum their tensors in memory, and one of
 * them (member 0, the leader) push-pulls the sum for all, so that the bytes a host sends and receives do
 * not grow with its tasks. Every member hands in its tensors in the same order (the calls it would make
 * without the group); the leader adds them in member order, so the sum does not depend on who came first,
 * then writes the result back into every member's tensor.
 *
 * <p>A member that leaves (its task failed or was killed) or a leader whose exchange failed ends the group:
 * every waiting member fails at once with the reason, as does every later call. A wait also ends when the
 * task is cancelled, or after the timeout.
 */
public final class LocalGroup implements AutoCloseable {
    private static final Map<String, LocalGroup> GROUPS = new HashMap<>();
    private final String name;
    private final int size;
    private final Duration timeout;
    private final float[][] handedIn;
    private int joined, arrived;
    private long generation;
    private String failure;

    private LocalGroup(String name, int size, Duration timeout) {
        this.name = name;
        this.size = size;
        this.timeout = timeout;
        this.handedIn = new float[size][];
    }

    /**
     * The group of this name in this JVM, created by its first member; each member closes it once. The name
     * appears in errors, in the Spark UI and in the run's record: it must say which group, and nothing secret.
     */
    public static LocalGroup join(String name, int size, Duration timeout) {
        synchronized (GROUPS) {
            LocalGroup g = GROUPS.computeIfAbsent(name, n -> new LocalGroup(n, size, timeout));
            if (g.size != size) throw new IllegalStateException("local group " + name + " has " + g.size + " members, not " + size);
            g.joined++;
            return g;
        }
    }

    /**
     * This JVM's view for member {@code rank}: the leader ({@code rank} 0) brings the client that reaches the
     * servers, the others bring none.
     */
    public PushPull member(int rank, PushPull servers, BooleanSupplier cancelled) {
        if ((rank == 0) != (servers != null)) throw new IllegalArgumentException("only member 0 talks to the servers");
        return new Member(rank, servers, cancelled);
    }

    @Override
    public void close() {
        synchronized (GROUPS) {
            if (--joined == 0) GROUPS.remove(name);
        }
        fail("a member of the local group left");
    }

    private synchronized void fail(String why) {
        if (failure == null) failure = why;
        notifyAll();
    }

    private final class Member implements PushPull {
        private final int rank;
        private final PushPull servers;
        private final BooleanSupplier cancelled;

        Member(int rank, PushPull servers, BooleanSupplier cancelled) {
            this.rank = rank;
            this.servers = servers;
            this.cancelled = cancelled;
        }

        @Override
        public void pushPull(float[] data, int keyBase, long round, int chunkFloats, Compression c) {
            if (!handIn(rank, data, cancelled)) return; // a member: the leader wrote the result into data
            float[] sum = sumInOrder();
            try {
                servers.pushPull(sum, keyBase, round, chunkFloats, c);
            } catch (RuntimeException e) {
                fail("the leader's exchange failed: " + e.getMessage());
                throw new PsException("local group " + name + ": the leader's exchange failed: " + e.getMessage(), e);
            }
            handBack(sum);
        }

        @Override
        public void pullInto(float[] data, int keyBase, long round, int chunkFloats, Compression c) {
            throw new UnsupportedOperationException("a local group reduces synchronous rounds only");
        }

        @Override
        public long bytesPushed() {
            return servers == null ? 0 : servers.bytesPushed();
        }

        @Override
        public long bytesPulled() {
            return servers == null ? 0 : servers.bytesPulled();
        }
    }

    /**
     * Hands a tensor in. Returns true to the leader once every member has; returns false to a member once the
     * leader has written the result into its tensor.
     */
    private synchronized boolean handIn(int rank, float[] data, BooleanSupplier cancelled) {
        check(cancelled);
        if (handedIn[rank] != null) throw new IllegalStateException("member " + rank + " handed in twice in one round");
        handedIn[rank] = data;
        arrived++;
        notifyAll();
        long round = generation;
        Duration patience = rank == 0 ? timeout : timeout.multipliedBy(2);
        long deadline = System.nanoTime() + patience.toNanos();
        while (rank == 0 ? arrived < size : generation == round) {
            waitAWhile(deadline, patience, rank == 0 ? "the other members' tensors" : "the leader's exchange", cancelled);
        }
        return rank == 0;
    }

    /** The leader's sum, in its own tensor: member 0's values plus member 1's, 2's, ... in that order. */
    private float[] sumInOrder() {
        float[][] in;
        synchronized (this) {
            in = handedIn.clone();
        }
        float[] sum = in[0];
        for (int r = 1; r < size; r++) {
            if (in[r].length != sum.length) throw new IllegalStateException("member " + r + " handed in " + in[r].length + " values, the leader " + sum.length);
            for (int i = 0; i < sum.length; i++) sum[i] += in[r][i];
        }
        return sum;
    }

    /** Writes the result into every member's tensor and lets them go on. */
    private synchronized void handBack(float[] result) {
        for (int r = 1; r < size; r++) System.arraycopy(result, 0, handedIn[r], 0, result.length);
        Arrays.fill(handedIn, null);
        arrived = 0;
        generation++;
        notifyAll();
    }

    private void check(BooleanSupplier cancelled) {
        if (failure != null) throw new PsException("local group " + name + ": " + failure);
        if (cancelled.getAsBoolean()) throw new PsException("local group " + name + ": cancelled (the task was killed)");
    }

    private void waitAWhile(long deadline, Duration patience, String what, BooleanSupplier cancelled) {
        check(cancelled);
        long left = deadline - System.nanoTime();
        if (left <= 0) throw new PsException("local group " + name + ": waited " + patience.toSeconds() + " s for " + what + " in vain");
        try {
            wait(Math.max(1, Math.min(100, left / 1_000_000)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PsException("local group " + name + ": interrupted");
        }
        check(cancelled);
    }
}
