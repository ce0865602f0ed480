package org.livetrain.ps;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** A peer that writes the summation service's frames byte by byte, as a hostile or broken client would. */
final class RawPeer implements AutoCloseable {
    static final byte HELLO = 1, ACK = 2, PUSH = 3, PULL = 5, VALUES = 6, ERROR = 7, CHALLENGE = 8, WELCOME = 9;
    final Socket socket;
    final DataOutputStream out;
    final DataInputStream in;

    RawPeer(InetSocketAddress server) throws IOException {
        this(server, null);
    }

    /** A peer connecting from {@code from} (another loopback address stands for another host), or from any address. */
    RawPeer(InetSocketAddress server, InetAddress from) throws IOException {
        socket = from == null ? new Socket(server.getAddress(), server.getPort()) : new Socket(server.getAddress(), server.getPort(), from, 0);
        socket.setSoTimeout(20_000);
        out = new DataOutputStream(socket.getOutputStream());
        in = new DataInputStream(socket.getInputStream());
    }

    /** Sends a frame: its length, type, request id and body. */
    void frame(byte type, long id, byte[] body) throws IOException {
        out.writeInt(1 + 8 + body.length);
        out.writeByte(type);
        out.writeLong(id);
        out.write(body);
        out.flush();
    }

    /** Answers the server's CHALLENGE with a HELLO that proves (or, with the wrong credentials, fails to prove) the job's key. */
    void hello(Credentials credentials, int worker, int workers) throws IOException {
        Answer challenge = read();
        if (challenge.type() != CHALLENGE) throw new IOException("expected a CHALLENGE, got frame type " + challenge.type());
        byte[] nonce = Credentials.nonce();
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.write(nonce);
        d.writeInt(worker);
        d.writeInt(workers);
        d.write(credentials.clientProof(challenge.body(), nonce, worker, workers));
        frame(HELLO, 1, b.toByteArray());
    }

    /** A PUSH of float32 values announcing {@code count} of them. */
    void push(long id, int key, long round, int count, float... values) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(key);
        d.writeLong(round);
        d.writeByte(0);
        d.writeInt(count);
        for (float v : values) d.writeFloat(v);
        frame(PUSH, id, b.toByteArray());
    }

    void pull(long id, int key, long round) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(key);
        d.writeLong(round);
        d.writeByte(0);
        frame(PULL, id, b.toByteArray());
    }

    /** The next frame's type and body (after the request id); ERROR bodies are decoded into {@code text}. */
    record Answer(byte type, long id, byte[] body) {
        String text() {
            return new String(body, 2, body.length - 2, StandardCharsets.UTF_8);
        }
    }

    Answer read() throws IOException {
        int n = in.readInt();
        byte type = in.readByte();
        long id = in.readLong();
        byte[] body = new byte[n - 9];
        in.readFully(body);
        return new Answer(type, id, body);
    }

    /** True when the server closed the connection within the socket's timeout (everything it sent is skipped). */
    boolean closedByServer() throws IOException {
        try {
            while (in.read() >= 0) {
                // drain
            }
            return true;
        } catch (EOFException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException reset) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
