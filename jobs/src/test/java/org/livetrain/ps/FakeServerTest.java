package org.livetrain.ps;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.livetrain.ps.SummationServiceTest.LOOPBACK;

/**
 * A worker facing a listener that poses as a summation server without the job's key (issue 25, points 1 and
 * 8): until the server proves the key in its WELCOME, nothing but that WELCOME or an ERROR completes the
 * handshake, and the worker sends nothing more, in clear or otherwise.
 */
@Tag("fast")
class FakeServerTest {
    /** The job's key, with encryption on: a fake server must not be able to switch it off. */
    private static final Credentials ENCRYPTED = Credentials.derive("spark-secret".getBytes(StandardCharsets.UTF_8), "job-token-1234", true);

    /** A listener on 127.0.0.1 that challenges, reads the HELLO, answers it with {@code answer}, then records what else arrives. */
    private static final class Fake implements AutoCloseable {
        final ServerSocket socket = new ServerSocket(0, 1, LOOPBACK);
        final CompletableFuture<Integer> bytesAfterHello = new CompletableFuture<>();

        Fake(byte type, byte[] body) throws IOException {
            Thread t = new Thread(() -> {
                try (Socket peer = socket.accept()) {
                    DataOutputStream out = new DataOutputStream(peer.getOutputStream());
                    DataInputStream in = new DataInputStream(peer.getInputStream());
                    frame(out, RawPeer.CHALLENGE, 0, new byte[Credentials.NONCE]);
                    byte[] hello = new byte[in.readInt()];
                    in.readFully(hello);
                    frame(out, type, ByteBuffer.wrap(hello, 1, 8).getLong(), body);
                    ByteArrayOutputStream rest = new ByteArrayOutputStream();
                    peer.setSoTimeout(10_000);
                    for (int b; (b = in.read()) >= 0; ) rest.write(b);
                    bytesAfterHello.complete(rest.size());
                } catch (IOException e) {
                    bytesAfterHello.complete(-1); // the worker reset the connection: nothing read after HELLO either
                }
            }, "fake-server");
            t.setDaemon(true);
            t.start();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) socket.getLocalSocketAddress();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    static void frame(DataOutputStream out, byte type, long id, byte[] body) throws IOException {
        out.writeInt(1 + 8 + body.length);
        out.writeByte(type);
        out.writeLong(id);
        out.write(body);
        out.flush();
    }

    /** A VALUES body: float32, three values of 666. */
    private static byte[] values() {
        ByteBuffer b = ByteBuffer.allocate(5 + 12).put((byte) 0).putInt(3);
        for (int i = 0; i < 3; i++) b.putFloat(666f);
        return b.array();
    }

    @ParameterizedTest(name = "HELLO answered with {0}")
    @ValueSource(strings = {"ACK", "VALUES", "a second CHALLENGE", "a WELCOME with a made-up proof"})
    void aServerThatDoesNotProveTheKeyIsRefusedAndNothingIsSentAfterHello(String answer) throws Exception {
        byte type = switch (answer) {
            case "ACK" -> RawPeer.ACK;
            case "VALUES" -> RawPeer.VALUES;
            case "a second CHALLENGE" -> RawPeer.CHALLENGE;
            default -> RawPeer.WELCOME;
        };
        byte[] body = switch (answer) {
            case "ACK" -> new byte[0];
            case "VALUES" -> values();
            case "a second CHALLENGE" -> new byte[Credentials.NONCE];
            default -> new byte[Credentials.PROOF];
        };
        try (Fake fake = new Fake(type, body)) {
            PsException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(PsException.class,
                    () -> new SummationClient(List.of(fake.address()), ENCRYPTED, 0, 2, Duration.ofSeconds(30)).close()));
            assertTrue(e.getMessage().contains(fake.address().toString()), "names the server: " + e.getMessage());
            assertTrue(e.getMessage().contains("not a server of this job"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), "one line: " + e.getMessage());
            int after = fake.bytesAfterHello.get(15, TimeUnit.SECONDS);
            assertTrue(after <= 0, "the worker sent " + after + " bytes after its HELLO to a server that never proved the key");
        }
    }

    /** A server that closes before its CHALLENGE fails the worker's attempt at once, as "closed", not after the whole timeout. */
    @Test
    void aServerThatClosesBeforeChallengingFailsTheConnectAtOnce() throws Exception {
        try (ServerSocket closing = new ServerSocket(0, 1, LOOPBACK)) {
            Thread t = new Thread(() -> {
                try {
                    closing.accept().close();
                } catch (IOException ignored) {
                    // the test ends
                }
            }, "closing-server");
            t.setDaemon(true);
            t.start();
            InetSocketAddress a = (InetSocketAddress) closing.getLocalSocketAddress();
            PsException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(PsException.class,
                    () -> new SummationClient(List.of(a), ENCRYPTED, 0, 2, Duration.ofSeconds(120)).close()));
            assertTrue(e.getMessage().contains("closed the connection"), e.getMessage());
            assertTrue(e.getMessage().contains(a.toString()), e.getMessage());
        }
    }
}
