package org.livetrain.ps;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.ps.Wire.Frame;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AES-GCM frames between the framing and the codec (issue 25, point 7): once one frame fails its tag the
 * connection is closing, and the frames that arrived in the same read are not opened or handled.
 */
@Tag("fast")
class FrameCipherTest {
    private static final Credentials KEY = Credentials.derive("spark-secret".getBytes(StandardCharsets.UTF_8), "job-token-1234", true);
    private final byte[] serverNonce = Credentials.nonce(), clientNonce = Credentials.nonce();

    /** What a worker's pipeline puts on the wire for these frames, sealed, as one buffer. */
    private ByteBuf sealedByWorker(Frame... frames) {
        EmbeddedChannel worker = new EmbeddedChannel();
        Wire.pipeline(worker.pipeline(), Wire.MAX_FRAME);
        Wire.encrypt(worker.pipeline(), KEY.cipher(serverNonce, clientNonce, false));
        worker.writeOutbound((Object[]) frames);
        ByteBuf wire = Unpooled.buffer();
        for (ByteBuf b; (b = worker.readOutbound()) != null; ) {
            wire.writeBytes(b);
            b.release();
        }
        return wire;
    }

    /** A server-side pipeline that records the frames it handles and closes on any error, as the server's handler does. */
    private EmbeddedChannel server(List<Frame> handled) {
        EmbeddedChannel server = new EmbeddedChannel();
        Wire.pipeline(server.pipeline(), Wire.MAX_FRAME, new SimpleChannelInboundHandler<Frame>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, Frame f) {
                handled.add(f);
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
            }
        });
        Wire.encrypt(server.pipeline(), KEY.cipher(serverNonce, clientNonce, true));
        return server;
    }

    private static Frame push(long id, float value) {
        return new Frame(id, new Wire.Push(0, 0, Wire.Values.of(new float[]{value}, Compression.NONE)));
    }

    @Test
    void sealedFramesOpenOnTheOtherSide() {
        List<Frame> handled = new ArrayList<>();
        server(handled).writeInbound(sealedByWorker(push(1, 1.5f), push(2, 2.5f)));
        assertEquals(2, handled.size());
        assertEquals(2.5f, ((Wire.Push) handled.get(1).message()).values().array()[0]);
    }

    @Test
    void framesArrivingAfterOneThatFailsItsTagAreNotHandled() {
        ByteBuf wire = sealedByWorker(push(1, 1.5f), push(2, 2.5f));
        wire.setByte(4 + 3, wire.getByte(4 + 3) ^ 0x01); // a bit of the first frame's sealed bytes flipped on the way
        List<Frame> handled = new ArrayList<>();
        EmbeddedChannel server = server(handled);
        server.writeInbound(wire); // both frames in one read
        assertFalse(server.isOpen(), "the connection is closed");
        assertTrue(handled.isEmpty(), "handled after a failed tag: " + handled);
    }
}
