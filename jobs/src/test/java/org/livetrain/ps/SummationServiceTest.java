package org.livetrain.ps;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real servers on 127.0.0.1, real clients, real sockets. */
@Tag("fast")
class SummationServiceTest {
    static final Credentials TOKEN = Credentials.derive("spark-secret".getBytes(StandardCharsets.UTF_8), "job-token-1234", false);
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    static List<SummationServer> servers(int n, int workers, KeySpace keys, Duration roundTimeout) throws Exception {
        List<SummationServer> s = new ArrayList<>();
        for (int i = 0; i < n; i++) s.add(new SummationServer(LOOPBACK, 0, TOKEN, workers, keys, roundTimeout));
        return s;
    }

    static List<InetSocketAddress> addresses(List<SummationServer> s) {
        return s.stream().map(SummationServer::address).toList();
    }

    static float[] vector(int worker, long round, int key, int n) {
        Random r = new Random(worker * 1_000_003L + round * 7919 + key);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextInt(2001) - 1000; // integers: sums are exact in any order
        return v;
    }

    @Test
    void concurrentWorkersOutOfOrderChunksAndOverlappingRounds() throws Exception {
        int workers = 3, keys = 12, rounds = 15, len = 1000;
        List<SummationServer> s = servers(2, workers, KeySpace.tensor(0, 12 * 1000, 1000), Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            List<Future<List<float[][]>>> results = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                int worker = w;
                results.add(pool.submit(() -> {
                    List<float[][]> got = new ArrayList<>();
                    try (SummationClient c = new SummationClient(addresses(s), TOKEN, worker, workers, Duration.ofSeconds(30))) {
                        List<Integer> order = new ArrayList<>();
                        for (int k = 0; k < keys; k++) order.add(k);
                        for (long round = 0; round < rounds; round++) {
                            Collections.shuffle(order, new Random(worker * 31 + round)); // every worker its own order
                            List<CompletableFuture<float[]>> pulls = new ArrayList<>();
                            for (int k : order) {
                                c.push(k, round, vector(worker, round, k, len), 0, len, Compression.NONE);
                                pulls.add(c.pull(k, round, Compression.NONE));
                            }
                            float[][] sums = new float[keys][];
                            for (int i = 0; i < keys; i++) sums[order.get(i)] = pulls.get(i).get();
                            got.add(sums); // no barrier: the next round starts while others still pull this one
                        }
                    }
                    return got;
                }));
            }
            List<List<float[][]>> all = new ArrayList<>();
            for (Future<List<float[][]>> f : results) all.add(f.get());
            for (int round = 0; round < rounds; round++) {
                for (int k = 0; k < keys; k++) {
                    float[] expected = new float[len];
                    for (int w = 0; w < workers; w++) {
                        float[] v = vector(w, round, k, len);
                        for (int i = 0; i < len; i++) expected[i] += v[i];
                    }
                    for (int w = 0; w < workers; w++) assertArrayEquals(expected, all.get(w).get(round)[k], "worker " + w + " key " + k + " round " + round);
                }
            }
        } finally {
            pool.shutdownNow();
            s.forEach(SummationServer::close);
        }
    }

    @Test
    void allReduceSumsAWholeTensorInChunks() throws Exception {
        int workers = 2;
        List<SummationServer> s = servers(2, workers, KeySpace.tensor(0, 10_007, 1000), Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            List<Future<float[]>> out = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                int worker = w;
                out.add(pool.submit(() -> {
                    try (SummationClient c = new SummationClient(addresses(s), TOKEN, worker, workers, Duration.ofSeconds(30))) {
                        float[] data = vector(worker, 0, 0, 10_007);
                        c.pushPull(data, 0, 0, 1000, Compression.NONE);
                        return data;
                    }
                }));
            }
            float[] a = out.get(0).get(), b = out.get(1).get();
            float[] x = vector(0, 0, 0, 10_007), y = vector(1, 0, 0, 10_007);
            for (int i = 0; i < x.length; i++) x[i] += y[i];
            assertArrayEquals(x, a);
            assertArrayEquals(x, b);
        } finally {
            pool.shutdownNow();
            s.forEach(SummationServer::close);
        }
    }

    @Test
    void asynchronousModeHoldsWeightsAndAddsDeltas() throws Exception {
        List<SummationServer> s = servers(2, 2, KeySpace.tensor(0, 5, 2).withWeights(), Duration.ofSeconds(30));
        try (SummationClient a = new SummationClient(addresses(s), TOKEN, 0, 2, Duration.ofSeconds(30));
             SummationClient b = new SummationClient(addresses(s), TOKEN, 1, 2, Duration.ofSeconds(30))) {
            long w = SummationClient.WEIGHTS;
            var early = b.pull(0, w, Compression.NONE);
            Thread.sleep(300);
            assertFalse(early.isDone(), "a pull of weights nobody has seeded waits for them");
            float[] start = {1, 2, 3, 4, 5};
            a.pushPull(start, 0, w, 2, Compression.NONE); // the first push seeds the weights
            assertArrayEquals(new float[]{1, 2}, early.get(5, TimeUnit.SECONDS));
            float[] seen = new float[5];
            b.pullInto(seen, 0, w, 2, Compression.NONE);
            assertArrayEquals(start, seen, "b starts from the seed");
            float[] da = {1, 1, 1, 1, 1};
            a.pushPull(da, 0, w, 2, Compression.NONE);
            assertArrayEquals(new float[]{2, 3, 4, 5, 6}, da, "a sees its own step at once, without waiting for b");
            float[] db = {0, 0, 0, 0, 10};
            b.pushPull(db, 0, w, 2, Compression.NONE);
            assertArrayEquals(new float[]{2, 3, 4, 5, 16}, db, "b continues from the weights including a's step");
            PsException mixed = assertThrows(PsException.class, () -> a.pushPull(new float[2], 0, 3, 2, Compression.NONE));
            assertTrue(mixed.getMessage().contains("key 0 holds weights"), mixed.getMessage());
        } finally {
            s.forEach(SummationServer::close);
        }
    }

    @Test
    void aFrameAnnouncingMoreValuesThanItCarriesClosesThatConnectionOnly() throws Exception {
        List<SummationServer> s = servers(1, 2, KeySpace.tensor(0, 2, 2), Duration.ofSeconds(30));
        try (SummationClient honest = new SummationClient(addresses(s), TOKEN, 0, 2, Duration.ofSeconds(30));
             RawPeer rogue = new RawPeer(s.get(0).address())) {
            rogue.hello(TOKEN, 1, 2); // the job's token: the peer is past the door
            assertEquals(RawPeer.WELCOME, rogue.read().type(), "HELLO welcomed");
            rogue.push(2, 0, 0, 1_000_000_000); // a PUSH announcing a billion values and carrying none
            assertTrue(rogue.closedByServer(), "the server closes a connection that sends a corrupt frame");
            try (SummationClient worker1 = new SummationClient(addresses(s), TOKEN, 1, 2, Duration.ofSeconds(30))) {
                CompletableFuture<Void> other = honest.push(0, 0, new float[]{1, 2}, 0, 2, Compression.NONE);
                float[] v = {10, 20};
                worker1.pushPull(v, 0, 0, 2, Compression.NONE);
                other.get(5, TimeUnit.SECONDS);
                assertArrayEquals(new float[]{11, 22}, v, "other connections are served as before; worker 1 may come back");
            }
        } finally {
            s.forEach(SummationServer::close);
        }
    }

    /**
     * A client that does not hold the job's key (another Spark secret, another job's token, or encryption set
     * differently) is refused at HELLO, and sees why; the key itself never crossed the wire.
     */
    @Test
    void aClientWithTheWrongSecretIsRefused() throws Exception {
        List<SummationServer> s = servers(1, 2, KeySpace.tensor(0, 1, 1), Duration.ofSeconds(30));
        try {
            for (Credentials wrong : List.of(Credentials.derive("another-secret".getBytes(StandardCharsets.UTF_8), "job-token-1234", false),
                    Credentials.derive("spark-secret".getBytes(StandardCharsets.UTF_8), "job-token-9999", false),
                    Credentials.derive("spark-secret".getBytes(StandardCharsets.UTF_8), "job-token-1234", true))) {
                PsException e = assertThrows(PsException.class, () -> new SummationClient(addresses(s), wrong, 0, 2, Duration.ofSeconds(5)).close());
                assertTrue(e.getMessage().contains("does not prove the job's key"), e.getMessage());
            }
            try (SummationClient right = new SummationClient(addresses(s), TOKEN, 0, 2, Duration.ofSeconds(5))) {
                assertEquals(1, right.servers(), "the right key still gets in");
            }
        } finally {
            s.forEach(SummationServer::close);
        }
    }

    /** A listener posing as a server, without the key, cannot answer HELLO with a proof: the worker refuses it. */
    @Test
    void aServerWithoutTheKeyIsRefusedByTheWorker() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 1, LOOPBACK)) {
            Thread t = new Thread(() -> {
                try (Socket peer = fake.accept()) {
                    DataOutputStream out = new DataOutputStream(peer.getOutputStream());
                    DataInputStream in = new DataInputStream(peer.getInputStream());
                    out.writeInt(9 + Credentials.NONCE); // CHALLENGE
                    out.writeByte(8);
                    out.writeLong(0);
                    out.write(new byte[Credentials.NONCE]);
                    int n = in.readInt(); // HELLO
                    byte[] hello = new byte[n];
                    in.readFully(hello);
                    out.writeInt(9 + Credentials.PROOF); // WELCOME with a made-up proof
                    out.writeByte(9);
                    out.write(hello, 1, 8);
                    out.write(new byte[Credentials.PROOF]);
                    out.flush();
                    in.read();
                } catch (IOException ignored) {
                    // the worker hung up
                }
            });
            t.start();
            PsException e = assertThrows(PsException.class, () -> new SummationClient(List.of((InetSocketAddress) fake.getLocalSocketAddress()), TOKEN, 0, 2,
                    Duration.ofSeconds(5)).close());
            assertTrue(e.getMessage().contains("does not hold the job's key"), e.getMessage());
            t.join(5_000);
        }
    }

    @Test
    void aWorkerThatDisconnectsMidRoundFailsTheRoundCleanly() throws Exception {
        List<SummationServer> s = servers(1, 3, KeySpace.tensor(0, 2, 2), Duration.ofSeconds(60));
        try {
            SummationClient a = new SummationClient(addresses(s), TOKEN, 0, 3, Duration.ofSeconds(60));
            SummationClient b = new SummationClient(addresses(s), TOKEN, 1, 3, Duration.ofSeconds(60));
            SummationClient dying = new SummationClient(addresses(s), TOKEN, 2, 3, Duration.ofSeconds(60));
            a.push(0, 0, new float[]{1, 2}, 0, 2, Compression.NONE).get();
            b.push(0, 0, new float[]{3, 4}, 0, 2, Compression.NONE).get();
            var pa = a.pull(0, 0, Compression.NONE);
            dying.close(); // goes away without pushing
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                Exception e = assertThrows(Exception.class, pa::get);
                assertTrue(e.getCause().getMessage().contains("worker 2 disconnected"), e.getCause().getMessage());
            });
            a.close();
            b.close();
        } finally {
            s.forEach(SummationServer::close);
        }
    }

    @Test
    void aMissingWorkerTimesTheRoundOutInsteadOfHanging() throws Exception {
        List<SummationServer> s = servers(1, 2, KeySpace.tensor(5, 1, 1).plus(7, 1), Duration.ofSeconds(2));
        try (SummationClient a = new SummationClient(addresses(s), TOKEN, 0, 2, Duration.ofSeconds(30))) {
            a.push(5, 0, new float[]{1}, 0, 1, Compression.NONE).get();
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                PsException e = assertThrows(PsException.class, () -> a.pushPull(new float[]{1}, 7, 0, 10, Compression.NONE));
                assertTrue(e.getMessage().contains("not complete after 2 s"), e.getMessage());
            });
        } finally {
            s.forEach(SummationServer::close);
        }
    }

    @Test
    void neverBindsToAllInterfaces() {
        assertThrows(IllegalArgumentException.class, () -> new SummationServer(InetAddress.getByName("0.0.0.0"), 0, TOKEN, 1, KeySpace.tensor(0, 1, 1), Duration.ofSeconds(1)));
    }

    @Test
    void fp16RoundTripAndSum() throws Exception {
        float[] values = {0f, -0f, 1f, -2.5f, 65504f, 6.1035156e-5f, 5.9604645e-8f, 0.1f, 1234.5f, Float.POSITIVE_INFINITY};
        for (float v : values) {
            float back = Half.toFloat(Half.fromFloat(v));
            assertEquals(v, back, Math.abs(v) * 1e-3 + 1e-7, "fp16 round trip of " + v);
        }
        assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.fromFloat(1e6f)));
        List<SummationServer> s = servers(1, 2, KeySpace.tensor(0, 1000, 256), Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<float[]>> out = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                int worker = w;
                out.add(pool.submit(() -> {
                    try (SummationClient c = new SummationClient(addresses(s), TOKEN, worker, 2, Duration.ofSeconds(30))) {
                        float[] data = new float[1000];
                        for (int i = 0; i < data.length; i++) data[i] = (float) Math.sin(i + worker) * 0.01f;
                        c.pushPull(data, 0, 0, 256, Compression.FP16);
                        long pushed = c.bytesPushed();
                        assertTrue(pushed < 1000 * 2 + 200, "fp16 halves the bytes on the wire: " + pushed);
                        return data;
                    }
                }));
            }
            float[] got = out.get(0).get();
            for (int i = 0; i < got.length; i++) {
                float exact = (float) (Math.sin(i) + Math.sin(i + 1)) * 0.01f;
                assertEquals(exact, got[i], 2e-5, "element " + i);
            }
        } finally {
            pool.shutdownNow();
            s.forEach(SummationServer::close);
        }
    }
}
