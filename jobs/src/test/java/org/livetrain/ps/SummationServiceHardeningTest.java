package org.livetrain.ps;

import io.netty.buffer.PooledByteBufAllocator;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.livetrain.ps.SummationServiceTest.TOKEN;

/**
 * Whoever reaches a shard's port is untrusted until HELLO, and a token holder is still held to the job's
 * keys and rounds: raw TCP peers on 127.0.0.1 try what a hostile or broken client would (issue 13, points 1-7).
 */
@Tag("fast")
class SummationServiceHardeningTest {
    private final List<SummationServer> servers = new ArrayList<>();
    private final List<AutoCloseable> open = new ArrayList<>();

    private InetSocketAddress server(int workers, KeySpace keys) throws Exception {
        servers.addAll(SummationServiceTest.servers(1, workers, keys, Duration.ofSeconds(30)));
        return servers.get(servers.size() - 1).address();
    }

    private <T extends AutoCloseable> T opened(T c) {
        open.add(c);
        return c;
    }

    private SummationClient client(InetSocketAddress a, int worker, int workers) throws Exception {
        return opened(new SummationClient(List.of(a), TOKEN, worker, workers, Duration.ofSeconds(30)));
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) c.close();
        servers.forEach(SummationServer::close);
    }

    @Test
    void beforeHelloOnlyAHelloSizedFrameIsAccepted() throws Exception {
        InetSocketAddress a = server(1, KeySpace.tensor(0, 1 << 20, 1 << 20));
        RawPeer p = opened(new RawPeer(a));
        p.out.writeInt(200 << 20); // announces a 200 MB frame without a token
        p.out.write(new byte[4096]);
        p.out.flush();
        assertTrue(p.closedByServer(), "closed before buffering the frame");
        SummationClient c = client(a, 0, 1);
        float[] v = new float[1 << 20];
        v[7] = 7;
        c.pushPull(v, 0, 0, 1 << 20, Compression.NONE); // after HELLO a frame of the job's own chunk size passes
        assertEquals(7, v[7]);
    }

    @Test
    void aConnectionThatNeverSaysHelloIsClosedAndWaitingConnectionsAreCapped() throws Exception {
        InetSocketAddress a = server(1, KeySpace.tensor(0, 1, 1));
        int slots = servers.get(0).waitingSlots();
        List<RawPeer> idle = new ArrayList<>();
        for (int i = 0; i < slots; i++) idle.add(opened(new RawPeer(a)));
        Thread.sleep(200); // all admitted, in this order
        RawPeer newest = opened(new RawPeer(a));
        idle.get(0).socket.setSoTimeout(3_000);
        assertTrue(idle.get(0).closedByServer(), "the oldest waiting connection gave its slot to the newest at once");
        long t0 = System.nanoTime();
        assertTrue(newest.closedByServer(), "a connection without HELLO is closed");
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(s < SummationServer.HANDSHAKE.toSeconds() + 3, "within the handshake time: " + s + " s");
        float[] v = {3};
        client(a, 0, 1).pushPull(v, 0, 0, 1, Compression.NONE);
        assertArrayEquals(new float[]{3}, v, "the real worker gets in once the idle ones are gone");
    }

    /**
     * Issue 25, point 4: someone without the key holds pre-HELLO slots with idle sockets and reconnects each one
     * the moment it is closed; the worker still gets in, again and again. As the review reproduced it: four
     * sockets from the worker's own address, which once filled every slot. And harder: more sockets than there
     * are slots, from another host (here another loopback address): a new connection takes the slot of the
     * oldest waiting one of the address that holds the most, so that attacker only ever evicts itself.
     */
    @ParameterizedTest(name = "{1} sockets from {0}")
    @CsvSource({"127.0.0.1, 4", "127.0.0.2, 20"})
    void aWorkerGetsInWhileAnAttackerKeepsReconnecting(String attacker, int sockets) throws Exception {
        InetSocketAddress a = server(1, KeySpace.tensor(0, 1, 1));
        InetAddress from = InetAddress.getByName(attacker);
        if (sockets > 4) assertTrue(sockets > servers.get(0).waitingSlots(), "more sockets than slots");
        AtomicBoolean attacking = new AtomicBoolean(true);
        AtomicInteger reconnects = new AtomicInteger();
        List<Thread> attackers = new ArrayList<>();
        List<RawPeer> holding = new CopyOnWriteArrayList<>();
        for (int i = 0; i < sockets; i++) {
            Thread t = new Thread(() -> {
                while (attacking.get()) {
                    try (RawPeer idle = new RawPeer(a, from)) {
                        holding.add(idle);
                        idle.closedByServer(); // holds the slot until the server closes it
                        holding.remove(idle);
                    } catch (IOException e) {
                        // refused: again
                    }
                    reconnects.incrementAndGet();
                }
            }, "attacker-" + i);
            t.setDaemon(true);
            t.start();
            attackers.add(t);
        }
        try {
            Thread.sleep(1000); // the attacker's sockets are in, the surplus ones reconnecting
            long until = System.nanoTime() + SummationServer.HANDSHAKE.toNanos() + 3_000_000_000L;
            for (int round = 0; round < 5 || (reconnects.get() < sockets && System.nanoTime() < until); round++) {
                float[] v = {round};
                try (SummationClient worker = new SummationClient(List.of(a), TOKEN, 0, 1, Duration.ofSeconds(20))) {
                    worker.pushPull(v, 0, round, 1, Compression.NONE);
                }
                assertArrayEquals(new float[]{round}, v, "round " + round);
                if (round >= 5) Thread.sleep(100);
            }
        } finally {
            attacking.set(false);
            for (RawPeer p : holding) p.close();
        }
        assertTrue(reconnects.get() >= sockets, "the attacker kept reconnecting: " + reconnects.get());
        for (Thread t : attackers) t.join(5_000);
    }

    @Test
    void aShortPushIsRefusedBeforeAnythingIsAdded() throws Exception {
        InetSocketAddress a = server(2, KeySpace.tensor(0, 4, 4));
        RawPeer p = opened(new RawPeer(a));
        p.hello(TOKEN, 1, 2);
        assertEquals(RawPeer.WELCOME, p.read().type());
        p.push(2, 0, 0, 2, 10, 10); // two values for a key of four
        RawPeer.Answer e = p.read();
        assertEquals(RawPeer.ERROR, e.type());
        assertTrue(e.text().contains("a push of 2 values to key 0 of 4"), e.text());
        p.push(3, 0, 0, 4, 1, 1, 1, 1);
        assertEquals(RawPeer.ACK, p.read().type());
        float[] v = {2, 2, 2, 2};
        client(a, 0, 2).pushPull(v, 0, 0, 4, Compression.NONE);
        assertArrayEquals(new float[]{3, 3, 3, 3}, v, "nothing of the refused push is in the sum");
    }

    @Test
    void keysAreTheJobsOnlyAndWeightsOnlyInAnAsynchronousJob() throws Exception {
        InetSocketAddress a = server(1, KeySpace.tensor(0, 2, 2));
        SummationClient c = client(a, 0, 1);
        PsException weights = assertThrows(PsException.class, () -> c.pushPull(new float[2], 0, SummationClient.WEIGHTS, 2, Compression.NONE));
        assertTrue(weights.getMessage().contains("this job is not asynchronous"), weights.getMessage());
        PsException unknown = assertThrows(PsException.class, () -> c.pushPull(new float[2], 40_000, 0, 2, Compression.NONE));
        assertTrue(unknown.getMessage().contains("no key 40000 in this job"), unknown.getMessage());
    }

    @Test
    void aSecondHelloAsAConnectedWorkerIsRefusedAndItsCloseLeavesTheWorkerAlone() throws Exception {
        InetSocketAddress a = server(2, KeySpace.tensor(0, 1, 1));
        SummationClient w0 = client(a, 0, 2), w1 = client(a, 1, 2);
        try (RawPeer stray = new RawPeer(a)) {
            stray.hello(TOKEN, 0, 2);
            RawPeer.Answer r = stray.read();
            assertEquals(RawPeer.ERROR, r.type());
            assertTrue(r.text().contains("worker 0 is connected already"), r.text());
        }
        Thread.sleep(300); // the stray connection's close has been seen
        CompletableFuture<float[]> p0 = CompletableFuture.supplyAsync(() -> sum(w0, 1));
        float[] got = sum(w1, 2);
        assertArrayEquals(new float[]{3}, got, "worker 0 was not marked gone");
        assertArrayEquals(new float[]{3}, p0.get(10, TimeUnit.SECONDS));
    }

    private static float[] sum(SummationClient c, float v) {
        float[] a = {v};
        c.pushPull(a, 0, 7, 1, Compression.NONE);
        return a;
    }

    @Test
    void roundsAreBookedPerWorkerWithinAWindow() throws Exception {
        InetSocketAddress a = server(2, KeySpace.tensor(0, 1, 1));
        SummationClient w0 = client(a, 0, 2), w1 = client(a, 1, 2);
        w0.push(0, 10, new float[]{1}, 0, 1, Compression.NONE).get(5, TimeUnit.SECONDS);
        w1.push(0, 10, new float[]{2}, 0, 1, Compression.NONE).get(5, TimeUnit.SECONDS);
        assertArrayEquals(new float[]{3}, w0.pull(0, 10, Compression.NONE).get(5, TimeUnit.SECONDS));
        Exception twice = assertThrows(Exception.class, () -> w0.pull(0, 10, Compression.NONE).get(5, TimeUnit.SECONDS));
        assertTrue(twice.getCause().getMessage().contains("worker 0 pulled key 0 round 10 twice"), twice.getCause().getMessage());
        assertArrayEquals(new float[]{3}, w1.pull(0, 10, Compression.NONE).get(5, TimeUnit.SECONDS), "a duplicate pull does not rob the real puller");
        Exception over = assertThrows(Exception.class, () -> w0.pull(0, 10, Compression.NONE).get(5, TimeUnit.SECONDS));
        assertTrue(over.getCause().getMessage().contains("key 0 round 10 is over"), over.getCause().getMessage());
        Exception ahead = assertThrows(Exception.class, () -> w0.push(0, 1_000_000_000L, new float[]{1}, 0, 1, Compression.NONE).get(5, TimeUnit.SECONDS));
        assertTrue(ahead.getCause().getMessage().contains("too far ahead"), ahead.getCause().getMessage());
        CompletableFuture<Void> next = w0.push(0, 11, new float[]{5}, 0, 1, Compression.NONE);
        next.get(5, TimeUnit.SECONDS);
        assertFalse(next.isCompletedExceptionally(), "the next round goes on");
    }

    /** A round every worker pushed but nobody pulled does not stay for ever: after the round timeout it is over. */
    @Test
    void aCompleteRoundNobodyPullsExpires() throws Exception {
        servers.addAll(SummationServiceTest.servers(1, 1, KeySpace.tensor(0, 1, 1), Duration.ofSeconds(2)));
        SummationClient c = client(servers.get(0).address(), 0, 1);
        c.push(0, 0, new float[]{1}, 0, 1, Compression.NONE).get(5, TimeUnit.SECONDS);
        Thread.sleep(3500);
        Exception over = assertThrows(Exception.class, () -> c.pull(0, 0, Compression.NONE).get(5, TimeUnit.SECONDS));
        assertTrue(over.getCause().getMessage().contains("key 0 round 0 is over"), over.getCause().getMessage());
    }

    /** Answers a peer does not read stop the reading of its requests: 100 pulls of 4 MB weights queue a few, not 400 MB. */
    @Test
    void answersThatAreNotReadStopTheReadingOfRequests() throws Exception {
        int n = 1 << 20;
        InetSocketAddress a = server(1, KeySpace.tensor(0, n, n).withWeights());
        RawPeer p = opened(new RawPeer(a));
        p.hello(TOKEN, 0, 1);
        assertEquals(RawPeer.WELCOME, p.read().type());
        p.push(2, 0, SummationClient.WEIGHTS, n, new float[n]); // seeds the weights
        assertEquals(RawPeer.ACK, p.read().type());
        long before = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
        for (int i = 0; i < 100; i++) p.pull(10 + i, 0, SummationClient.WEIGHTS);
        Thread.sleep(2000);
        long queued = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory() - before;
        System.out.printf("[backpressure] %.1f MB of answers queued for a peer that does not read (100 asked, 4 MB each)%n", queued / 1e6);
        assertTrue(queued < 64L << 20, "queued " + queued + " bytes");
        for (int i = 0; i < 100; i++) assertEquals(RawPeer.VALUES, p.read().type(), "every answer comes once the peer reads");
    }

    /** Anyone can knock: a burst of refused HELLOs is one line in the log, not one each. */
    @Test
    void refusalsAreLoggedAtMostOncePerInterval() throws Exception {
        InetSocketAddress a = server(1, KeySpace.tensor(0, 1, 1));
        Captured log = new Captured();
        Logger core = (Logger) LogManager.getLogger(SummationServer.class);
        log.start();
        core.addAppender(log);
        try {
            for (int i = 0; i < 12; i++) {
                try (RawPeer p = new RawPeer(a)) {
                    p.hello(Credentials.derive(new byte[]{9}, "wrong", false), 0, 1);
                    assertEquals(RawPeer.ERROR, p.read().type());
                    assertTrue(p.closedByServer());
                }
            }
        } finally {
            core.removeAppender(log);
        }
        long refusals = log.lines.stream().filter(l -> l.contains("refused connection")).count();
        assertEquals(1, refusals, log.lines.toString());
    }

    private static final class Captured extends AbstractAppender {
        final List<String> lines = new CopyOnWriteArrayList<>();

        Captured() {
            super("captured", null, null, true, Property.EMPTY_ARRAY);
        }

        @Override
        public void append(LogEvent event) {
            lines.add(event.getMessage().getFormattedMessage());
        }
    }
}
