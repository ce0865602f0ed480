package org.livetrain.ps;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;

/**
 * The summation service's binary framing. Every frame is {@code int length | byte type | long requestId | body},
 * big-endian; float payloads are {@code byte dtype | int count | count x (float32 | float16)}.
 * <pre>
 * HELLO      token (short length + UTF-8), int worker, int workers     -> HELLO_OK or ERROR, then closed
 * PUSH       int key, long round, payload                              -> PUSH_ACK
 * PULL       int key, long round, byte replyDtype                      -> PULL_REPLY payload, when all workers pushed
 * ERROR      short length + UTF-8 message (requestId 0: about the connection)
 * INIT       int key, payload: set the key's weights if it has none    -> PUSH_ACK       (asynchronous mode)
 * ADD        int key, payload: add a delta to the key's weights        -> PUSH_ACK
 * GET        int key, byte replyDtype                                  -> PULL_REPLY with the current weights
 * </pre>
 */
final class Wire {
    static final int MAX_FRAME = 256 << 20;
    static final byte HELLO = 1, HELLO_OK = 2, PUSH = 3, PUSH_ACK = 4, PULL = 5, PULL_REPLY = 6, ERROR = 7, INIT = 8, ADD = 9, GET = 10;
    static final byte FP32 = 0, FP16 = 1;

    private Wire() {
    }

    static void writeString(ByteBuf buf, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        buf.writeShort(Math.min(b.length, 65535));
        buf.writeBytes(b, 0, Math.min(b.length, 65535));
    }

    static String readString(ByteBuf buf) {
        int n = buf.readUnsignedShort();
        return buf.readCharSequence(n, StandardCharsets.UTF_8).toString();
    }

    static int payloadBytes(byte dtype, int n) {
        return 5 + n * (dtype == FP16 ? 2 : 4);
    }

    static void writeFloats(ByteBuf buf, byte dtype, float[] a, int off, int n) {
        buf.writeByte(dtype);
        buf.writeInt(n);
        if (dtype == FP16) {
            for (int i = 0; i < n; i++) buf.writeShort(Half.fromFloat(a[off + i]));
        } else {
            for (int i = 0; i < n; i++) buf.writeFloat(a[off + i]);
        }
    }

    /** Reads a payload into a new array. */
    static float[] readFloats(ByteBuf buf) {
        byte dtype = buf.readByte();
        int n = buf.readInt();
        float[] a = new float[n];
        if (dtype == FP16) {
            for (int i = 0; i < n; i++) a[i] = Half.toFloat(buf.readShort());
        } else {
            for (int i = 0; i < n; i++) a[i] = buf.readFloat();
        }
        return a;
    }

    /** Adds a payload into {@code sum}; the counts must match. */
    static void addFloats(ByteBuf buf, float[] sum) {
        byte dtype = buf.readByte();
        int n = buf.readInt();
        if (n != sum.length) throw new IllegalArgumentException("payload of " + n + " values for a chunk of " + sum.length);
        if (dtype == FP16) {
            for (int i = 0; i < n; i++) sum[i] += Half.toFloat(buf.readShort());
        } else {
            for (int i = 0; i < n; i++) sum[i] += buf.readFloat();
        }
    }
}
