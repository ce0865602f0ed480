package org.livetrain.ps;

import io.netty.channel.ChannelHandlerContext;
import org.livetrain.ps.Wire.Frame;
import org.livetrain.ps.Wire.Values;

/** Where the answer to one request goes. Written on the server's event-loop thread, so values are encoded before the call returns. */
record Reply(ChannelHandlerContext ctx, long id, Compression compression) {
    void ack() {
        ctx.writeAndFlush(new Frame(id, new Wire.Ack()));
    }

    void values(float[] values) {
        ctx.writeAndFlush(new Frame(id, Values.of(values, compression)));
    }

    void error(String message) {
        ctx.writeAndFlush(new Frame(id, new Wire.Error(message)));
    }
}
