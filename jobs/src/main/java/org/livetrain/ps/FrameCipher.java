package org.livetrain.ps;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.MessageToMessageCodec;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.List;

/**
 * AES-GCM on every frame of one connection after the handshake: a frame's bytes (type, request id, body)
 * are sealed into the same bytes encrypted plus a 16-byte tag, under this direction's key, with the number
 * of the frame in this direction as the nonce. Nonces never repeat under a key (each connection derives new
 * keys, see {@link Credentials}), and a frame that was changed, dropped, replayed or reordered fails its tag:
 * the connection is closed, and nothing after that frame is opened, also what arrived in the same read.
 * Sits between the length framing and the {@link Wire.Codec}.
 */
final class FrameCipher extends MessageToMessageCodec<ByteBuf, ByteBuf> {
    static final int TAG = 16;
    private final Direction seal, open;
    /** A frame failed its tag: the connection is closing, and what follows is dropped unread. */
    private boolean broken;

    FrameCipher(byte[] sealKey, byte[] openKey) {
        this.seal = new Direction(sealKey, Cipher.ENCRYPT_MODE);
        this.open = new Direction(openKey, Cipher.DECRYPT_MODE);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, ByteBuf plain, List<Object> out) throws GeneralSecurityException {
        ByteBuf sealed = ctx.alloc().directBuffer(plain.readableBytes() + TAG);
        try {
            out.add(seal.apply(plain, sealed));
        } catch (GeneralSecurityException | RuntimeException e) {
            sealed.release();
            throw e;
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws GeneralSecurityException {
        if (broken) return; // the codec releases what is dropped
        broken = true; // until this frame opens
        if (in.readableBytes() < TAG) throw new CorruptedFrameException("an encrypted frame of " + in.readableBytes() + " bytes, shorter than its tag");
        ByteBuf plain = ctx.alloc().directBuffer(in.readableBytes() - TAG);
        try {
            out.add(open.apply(in, plain));
        } catch (AEADBadTagException e) {
            plain.release();
            throw new CorruptedFrameException("an encrypted frame that fails authentication (wrong key, or changed on the way)");
        } catch (GeneralSecurityException | RuntimeException e) {
            plain.release();
            throw e;
        }
        broken = false;
    }

    /** One direction: its key, its cipher and its frame count (the nonce). */
    private static final class Direction {
        private final SecretKeySpec key;
        private final int mode;
        private final Cipher cipher;
        private long frames;

        Direction(byte[] key, int mode) {
            this.key = new SecretKeySpec(key, "AES");
            this.mode = mode;
            try {
                this.cipher = Cipher.getInstance("AES/GCM/NoPadding");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES/GCM is part of every JDK", e);
            }
        }

        /** Seals or opens all readable bytes of {@code from} into {@code to}; returns {@code to}. */
        ByteBuf apply(ByteBuf from, ByteBuf to) throws GeneralSecurityException {
            cipher.init(mode, key, new GCMParameterSpec(TAG * 8, ByteBuffer.allocate(12).putInt(0).putLong(frames++).array()));
            ByteBuffer dst = to.nioBuffer(to.writerIndex(), to.writableBytes());
            int n = cipher.doFinal(from.nioBuffer(), dst);
            from.skipBytes(from.readableBytes());
            return to.writerIndex(to.writerIndex() + n);
        }
    }
}
