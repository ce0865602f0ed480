package org.livetrain.ps;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.codec.MessageToMessageCodec;
import io.netty.handler.codec.TooLongFrameException;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * The summation service's wire protocol. Every frame is {@code int length | byte type | long requestId | body},
 * big-endian; a payload of values is {@code byte compression | int count | count x (float32 | float16)}.
 * <pre>
 * type       body                                                   answer
 * CHALLENGE  16-byte server nonce                                   (sent by the server as a peer connects)
 * HELLO      16-byte client nonce, int worker, int workers,         WELCOME, or ERROR and the connection closed
 *            32-byte client proof
 * WELCOME    32-byte server proof                                   (the client checks it, or closes)
 * PUSH       int key, long round, payload                           ACK
 * PULL       int key, long round, byte compression                  VALUES
 * ACK        (nothing)
 * VALUES     payload
 * ERROR      short length + UTF-8 message                           (requestId 0: about the connection)
 * </pre>
 * The proofs are HMACs under the job's key over both nonces ({@link Credentials}); the key itself is never
 * sent. When the job encrypts, every frame after WELCOME, in both directions, is {@code int length | AES-GCM
 * sealed (type | requestId | body) | 16-byte tag} ({@link FrameCipher}); the handshake itself is in clear.
 * A key is one of two kinds, fixed by the round of its first request:
 * <ul>
 *   <li>round &ge; 0, <b>round sums</b> (synchronous): PUSH adds a worker's values to the key's sum for
 *       that round; PULL is answered with the sum once every worker has pushed the round.</li>
 *   <li>round {@link #WEIGHTS}, <b>weights</b> (asynchronous): the first PUSH sets the key's weights and
 *       every later one adds to them; PULL is answered with the weights as they are, once there are any.</li>
 * </ul>
 * Bytes stay in this class: {@link #pipeline} puts the length prepender and decoder and the {@link Codec}
 * in front of a handler, which then deals in {@link Frame}s of {@link Message}s only. A decoder that reads
 * from an untrusted peer checks every count against the bytes actually there before allocating.
 */
final class Wire {
    static final int MAX_FRAME = 256 << 20;
    /** The largest frame before a connection has said HELLO: a HELLO. */
    static final int HELLO_FRAME = 1 + 8 + Credentials.NONCE + 8 + Credentials.PROOF;
    /** The round of a key that holds weights rather than round sums. */
    static final long WEIGHTS = -1;
    private static final byte HELLO = 1, ACK = 2, PUSH = 3, PULL = 5, VALUES = 6, ERROR = 7, CHALLENGE = 8, WELCOME = 9;
    private static final int HEADER = 1 + 8, LENGTH = 4;

    private Wire() {
    }

    /** One frame: the request it belongs to and what it says. */
    record Frame(long id, Message message) {
    }

    /** What a frame says; each kind writes its own body, {@link Codec#decode} reads them all. */
    sealed interface Message permits Challenge, Hello, Welcome, Push, Pull, Ack, Values, Error {
        byte type();

        int bodyBytes();

        void write(ByteBuf b);
    }

    record Challenge(byte[] nonce) implements Message {
        public byte type() {
            return CHALLENGE;
        }

        public int bodyBytes() {
            return Credentials.NONCE;
        }

        public void write(ByteBuf b) {
            b.writeBytes(nonce);
        }
    }

    record Hello(byte[] nonce, int worker, int workers, byte[] proof) implements Message {
        public byte type() {
            return HELLO;
        }

        public int bodyBytes() {
            return Credentials.NONCE + 8 + Credentials.PROOF;
        }

        public void write(ByteBuf b) {
            b.writeBytes(nonce).writeInt(worker).writeInt(workers).writeBytes(proof);
        }
    }

    record Welcome(byte[] proof) implements Message {
        public byte type() {
            return WELCOME;
        }

        public int bodyBytes() {
            return Credentials.PROOF;
        }

        public void write(ByteBuf b) {
            b.writeBytes(proof);
        }
    }

    record Push(int key, long round, Values values) implements Message {
        public byte type() {
            return PUSH;
        }

        public int bodyBytes() {
            return 12 + values.bodyBytes();
        }

        public void write(ByteBuf b) {
            b.writeInt(key).writeLong(round);
            values.write(b);
        }
    }

    record Pull(int key, long round, Compression compression) implements Message {
        public byte type() {
            return PULL;
        }

        public int bodyBytes() {
            return 13;
        }

        public void write(ByteBuf b) {
            b.writeInt(key).writeLong(round).writeByte(compression.ordinal());
        }
    }

    record Ack() implements Message {
        public byte type() {
            return ACK;
        }

        public int bodyBytes() {
            return 0;
        }

        public void write(ByteBuf b) {
        }
    }

    /** {@code n} values of {@code array} from {@code off}, sent with the given compression. */
    record Values(Compression compression, float[] array, int off, int n) implements Message {
        static Values of(float[] array, Compression compression) {
            return new Values(compression, array, 0, array.length);
        }

        public byte type() {
            return VALUES;
        }

        public int bodyBytes() {
            return 5 + n * compression.width;
        }

        public void write(ByteBuf b) {
            b.writeByte(compression.ordinal()).writeInt(n);
            if (compression == Compression.FP16) {
                for (int i = off; i < off + n; i++) b.writeShort(Half.fromFloat(array[i]));
            } else {
                for (int i = off; i < off + n; i++) b.writeFloat(array[i]);
            }
        }
    }

    record Error(String message) implements Message {
        public byte type() {
            return ERROR;
        }

        public int bodyBytes() {
            return 2 + utf8(message).length;
        }

        public void write(ByteBuf b) {
            writeString(b, message);
        }
    }

    /** Completes a channel's pipeline: framing (frames of at most {@code maxFrame} bytes) and the codec in front of {@code handlers}. */
    static void pipeline(ChannelPipeline p, int maxFrame, ChannelHandler... handlers) {
        p.addLast(FRAMES, new Frames(maxFrame)).addLast(LENGTHS, new LengthFieldPrepender(LENGTH)).addLast(new Codec()).addLast(handlers);
    }

    /** From now on every frame of this channel is sealed and opened by {@code cipher}, between the framing and the codec. */
    static void encrypt(ChannelPipeline p, FrameCipher cipher) {
        p.addAfter(LENGTHS, "cipher", cipher);
    }

    /** Frames of at most this many bytes (plus an encrypted frame's tag) from now on: a server raises the limit once a peer said HELLO. */
    static void limitFrames(ChannelPipeline p, int maxFrame) {
        ((Frames) p.get(FRAMES)).limit = maxFrame + FrameCipher.TAG;
    }

    /** The bytes of a frame carrying {@code values} floats, the largest a key of that length needs. */
    static int frameFor(int values) {
        return HEADER + 12 + 5 + values * 4;
    }

    private static final String FRAMES = "frames", LENGTHS = "lengths";

    /** Netty's length-field decoder, refusing a frame above the current limit before buffering any of it. */
    private static final class Frames extends LengthFieldBasedFrameDecoder {
        int limit;

        Frames(int limit) {
            super(MAX_FRAME, 0, LENGTH, 0, LENGTH);
            this.limit = limit;
        }

        @Override
        protected Object decode(ChannelHandlerContext ctx, ByteBuf in) throws Exception {
            if (in.readableBytes() >= LENGTH && in.getUnsignedInt(in.readerIndex()) > limit) {
                throw new TooLongFrameException("a frame of " + in.getUnsignedInt(in.readerIndex()) + " bytes; at most " + limit + " here");
            }
            return super.decode(ctx, in);
        }
    }

    /** The bytes a frame takes on the wire, length field included. */
    static int frameBytes(Message m) {
        return LENGTH + HEADER + m.bodyBytes();
    }

    /** Frames to bytes and back; nothing else in the service sees a byte. */
    static final class Codec extends MessageToMessageCodec<ByteBuf, Frame> {
        @Override
        protected void encode(ChannelHandlerContext ctx, Frame f, List<Object> out) {
            Message m = f.message();
            ByteBuf b = ctx.alloc().directBuffer(HEADER + m.bodyBytes());
            b.writeByte(m.type()).writeLong(f.id());
            m.write(b);
            out.add(b);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            need(in, HEADER);
            byte type = in.readByte();
            long id = in.readLong();
            Message m = switch (type) {
                case CHALLENGE -> new Challenge(readBytes(in, Credentials.NONCE));
                case HELLO -> new Hello(readBytes(in, Credentials.NONCE), readInt(in), readInt(in), readBytes(in, Credentials.PROOF));
                case WELCOME -> new Welcome(readBytes(in, Credentials.PROOF));
                case PUSH -> new Push(readInt(in), readLong(in), readValues(in));
                case PULL -> new Pull(readInt(in), readLong(in), compression(readByte(in)));
                case ACK -> new Ack();
                case VALUES -> readValues(in);
                case ERROR -> new Error(readString(in));
                default -> throw new CorruptedFrameException("unknown frame type " + type);
            };
            if (in.isReadable()) throw new CorruptedFrameException(in.readableBytes() + " bytes after a frame of type " + type);
            out.add(new Frame(id, m));
        }
    }

    /** Reads a payload into a new array, once the frame is known to hold every value it announces. */
    private static Values readValues(ByteBuf in) {
        Compression c = compression(readByte(in));
        int n = readInt(in);
        if (n < 0 || (long) n * c.width != in.readableBytes()) {
            throw new CorruptedFrameException("a payload announcing " + n + " values in a frame of " + in.readableBytes() + " bytes");
        }
        float[] a = new float[n];
        if (c == Compression.FP16) {
            for (int i = 0; i < n; i++) a[i] = Half.toFloat(in.readShort());
        } else {
            for (int i = 0; i < n; i++) a[i] = in.readFloat();
        }
        return Values.of(a, c);
    }

    private static Compression compression(byte b) {
        if (b < 0 || b >= Compression.values().length) throw new CorruptedFrameException("unknown compression " + b);
        return Compression.values()[b];
    }

    private static void writeString(ByteBuf b, String s) {
        byte[] u = utf8(s);
        b.writeShort(u.length).writeBytes(u);
    }

    private static String readString(ByteBuf in) {
        int n = in.readableBytes() < 2 ? -1 : in.readUnsignedShort();
        need(in, n);
        return in.readCharSequence(n, StandardCharsets.UTF_8).toString();
    }

    /** UTF-8 bytes of {@code s}, cut to what a short length can announce. */
    private static byte[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return b.length <= 65535 ? b : Arrays.copyOf(b, 65535);
    }

    private static byte[] readBytes(ByteBuf in, int n) {
        need(in, n);
        byte[] b = new byte[n];
        in.readBytes(b);
        return b;
    }

    private static byte readByte(ByteBuf in) {
        need(in, 1);
        return in.readByte();
    }

    private static int readInt(ByteBuf in) {
        need(in, 4);
        return in.readInt();
    }

    private static long readLong(ByteBuf in) {
        need(in, 8);
        return in.readLong();
    }

    private static void need(ByteBuf in, int bytes) {
        if (bytes < 0 || in.readableBytes() < bytes) throw new CorruptedFrameException("a frame cut short");
    }
}
