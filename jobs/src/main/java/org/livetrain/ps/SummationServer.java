package org.livetrain.ps;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One shard of the summation service (BytePS's "server"): it only adds. For each chunk key and round it
 * sums the contributions of all workers; a pull of a round is answered once every worker has pushed it.
 * Rounds are independent, so the next round's pushes may arrive before the last pull of the previous one.
 *
 * <p>Connections must present the job's token; others are refused and logged. The server binds to the
 * address it is given (the executor's own), never to all interfaces. A round that is not complete within
 * the timeout, or that can no longer complete because a worker disconnected, fails its pending pulls
 * with a clear error.
 */
public final class SummationServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SummationServer.class);
    private static final AttributeKey<Integer> WORKER = AttributeKey.valueOf("livetrain.worker");

    private final byte[] token;
    private final int workers;
    private final Duration roundTimeout;
    private final EventLoopGroup boss;
    private final EventLoopGroup io;
    private final Channel channel;
    private final Map<Integer, Map<Long, Round>> keys = new HashMap<>();
    /** Asynchronous mode: the current weights of each key. */
    private final Map<Integer, float[]> weights = new HashMap<>();
    private final AtomicLong bytesIn = new AtomicLong(), bytesOut = new AtomicLong();
    /** Workers whose connection closed: a round they did not push can never complete. */
    private final java.util.Set<Integer> gone = new java.util.HashSet<>();

    /** A round of one key. Guarded by the server's monitor. */
    private static final class Round {
        final long created = System.nanoTime();
        float[] sum;
        int pushed;
        boolean[] pushedBy;
        int pulled;
        final List<PendingPull> pulls = new ArrayList<>();
    }

    private record PendingPull(ChannelHandlerContext ctx, long requestId, byte dtype, int worker) {
    }

    public SummationServer(InetAddress bind, int port, String token, int workers, Duration roundTimeout) throws InterruptedException {
        if (bind.isAnyLocalAddress()) throw new IllegalArgumentException("refusing to bind the summation server to all interfaces");
        this.token = token.getBytes(StandardCharsets.UTF_8);
        this.workers = workers;
        this.roundTimeout = roundTimeout;
        this.boss = new NioEventLoopGroup(1, new DefaultThreadFactory("livetrain-ps-accept", true));
        this.io = new NioEventLoopGroup(1, new DefaultThreadFactory("livetrain-ps-io", true));
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, io)
                .channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(Wire.MAX_FRAME, 0, 4, 0, 4), new Handler());
                    }
                });
        this.channel = b.bind(new InetSocketAddress(bind, port)).sync().channel();
        io.scheduleAtFixedRate(this::expireRounds, 1, 1, TimeUnit.SECONDS);
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    public long bytesIn() {
        return bytesIn.get();
    }

    public long bytesOut() {
        return bytesOut.get();
    }

    private final class Handler extends SimpleChannelInboundHandler<ByteBuf> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf in) {
            bytesIn.addAndGet(in.readableBytes() + 4L);
            byte type = in.readByte();
            long id = in.readLong();
            Integer worker = ctx.channel().attr(WORKER).get();
            if (worker == null) {
                hello(ctx, type, id, in);
                return;
            }
            try {
                switch (type) {
                    case Wire.PUSH -> push(ctx, id, worker, in.readInt(), in.readLong(), in);
                    case Wire.PULL -> pull(ctx, id, worker, in.readInt(), in.readLong(), in.readByte());
                    case Wire.INIT -> init(ctx, id, in.readInt(), in);
                    case Wire.ADD -> add(ctx, id, in.readInt(), in);
                    case Wire.GET -> get(ctx, id, in.readInt(), in.readByte());
                    default -> error(ctx, id, "unexpected frame type " + type);
                }
            } catch (RuntimeException e) {
                error(ctx, id, String.valueOf(e.getMessage()));
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            Integer w = ctx.channel().attr(WORKER).get();
            if (w != null) workerGone(w);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.warn("summation server {}: connection {} failed: {}", address(), ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }

    private void hello(ChannelHandlerContext ctx, byte type, long id, ByteBuf in) {
        if (type != Wire.HELLO) {
            refuse(ctx, id, "the first frame must be HELLO");
            return;
        }
        byte[] presented = Wire.readString(in).getBytes(StandardCharsets.UTF_8);
        int worker = in.readInt(), n = in.readInt();
        if (!MessageDigest.isEqual(presented, token)) {
            refuse(ctx, id, "wrong job token");
            return;
        }
        if (n != workers || worker < 0 || worker >= workers) {
            refuse(ctx, id, "worker " + worker + " of " + n + " does not fit a job of " + workers + " workers");
            return;
        }
        synchronized (this) {
            gone.remove(worker); // a worker may reconnect
        }
        ctx.channel().attr(WORKER).set(worker);
        send(ctx, Wire.HELLO_OK, id);
    }

    private void refuse(ChannelHandlerContext ctx, long id, String why) {
        LOG.warn("summation server {}: refused connection from {}: {}", address(), ctx.channel().remoteAddress(), why);
        ByteBuf b = frame(ctx, Wire.ERROR, id, 2 + why.length() * 3);
        Wire.writeString(b, why);
        ctx.writeAndFlush(finish(b)).addListener(f -> ctx.close());
    }

    private volatile long dieInRound = -1;

    /**
     * Fault-injection hook for tests: the first push of this round makes the shard die as a crashed
     * process would (every connection dropped, nothing answered).
     */
    public void dieInRound(long round) {
        dieInRound = round;
    }

    private synchronized void push(ChannelHandlerContext ctx, long id, int worker, int key, long round, ByteBuf payload) {
        if (round == dieInRound) {
            LOG.warn("summation server {}: test hook: dying in round {}", address(), round);
            dieInRound = -1;
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            io.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            return;
        }
        Round r = keys.computeIfAbsent(key, k -> new HashMap<>()).computeIfAbsent(round, k -> new Round());
        if (r.pushedBy == null) r.pushedBy = new boolean[workers];
        if (r.pushedBy[worker]) throw new IllegalStateException("worker " + worker + " pushed key " + key + " round " + round + " twice");
        if (r.sum == null) {
            r.sum = Wire.readFloats(payload);
        } else {
            Wire.addFloats(payload, r.sum);
        }
        r.pushedBy[worker] = true;
        r.pushed++;
        send(ctx, Wire.PUSH_ACK, id);
        if (r.pushed == workers) {
            for (PendingPull p : r.pulls) answer(key, round, r, p);
            r.pulls.clear();
        }
    }

    private synchronized void pull(ChannelHandlerContext ctx, long id, int worker, int key, long round, byte dtype) {
        Round r = keys.computeIfAbsent(key, k -> new HashMap<>()).computeIfAbsent(round, k -> new Round());
        PendingPull p = new PendingPull(ctx, id, dtype, worker);
        if (r.pushed == workers) {
            answer(key, round, r, p);
        } else if (missingWorkerGone(r) >= 0) {
            error(ctx, id, "key " + key + " round " + round + ": worker " + missingWorkerGone(r) + " disconnected before pushing");
        } else {
            r.pulls.add(p);
        }
    }

    // ---- asynchronous mode (--async): the server holds the weights, workers add their own steps to them

    private synchronized void init(ChannelHandlerContext ctx, long id, int key, ByteBuf payload) {
        weights.computeIfAbsent(key, k -> Wire.readFloats(payload));
        send(ctx, Wire.PUSH_ACK, id);
    }

    private synchronized void add(ChannelHandlerContext ctx, long id, int key, ByteBuf payload) {
        float[] w = weights.get(key);
        if (w == null) throw new IllegalStateException("key " + key + " has no weights yet (INIT first)");
        Wire.addFloats(payload, w);
        send(ctx, Wire.PUSH_ACK, id);
    }

    private synchronized void get(ChannelHandlerContext ctx, long id, int key, byte dtype) {
        float[] w = weights.get(key);
        if (w == null) throw new IllegalStateException("key " + key + " has no weights yet (INIT first)");
        ByteBuf b = frame(ctx, Wire.PULL_REPLY, id, Wire.payloadBytes(dtype, w.length));
        Wire.writeFloats(b, dtype, w, 0, w.length);
        ctx.writeAndFlush(finish(b));
    }

    /** Sends the sum; forgets the round once every worker has pulled it. Caller holds the monitor. */
    private void answer(int key, long round, Round r, PendingPull p) {
        ByteBuf b = frame(p.ctx(), Wire.PULL_REPLY, p.requestId(), Wire.payloadBytes(p.dtype(), r.sum.length));
        Wire.writeFloats(b, p.dtype(), r.sum, 0, r.sum.length);
        p.ctx().writeAndFlush(finish(b));
        if (++r.pulled == workers) keys.get(key).remove(round);
    }

    private int missingWorkerGone(Round r) {
        for (int w : gone) if (r.pushedBy == null || !r.pushedBy[w]) return w;
        return -1;
    }

    /** A worker's connection closed: rounds that still wait for it can never complete. */
    private synchronized void workerGone(int worker) {
        gone.add(worker);
        failRounds(r -> r.pushedBy == null || !r.pushedBy[worker], "worker " + worker + " disconnected before pushing");
    }

    private synchronized void expireRounds() {
        long limit = System.nanoTime() - roundTimeout.toNanos();
        failRounds(r -> r.pushed < workers && r.created < limit,
                "round not complete after " + roundTimeout.toSeconds() + " s (a worker is missing)");
    }

    private void failRounds(java.util.function.Predicate<Round> waitingFor, String why) {
        for (Map.Entry<Integer, Map<Long, Round>> k : keys.entrySet()) {
            for (Iterator<Map.Entry<Long, Round>> it = k.getValue().entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<Long, Round> e = it.next();
                Round r = e.getValue();
                if (r.pushed >= workers || !waitingFor.test(r)) continue;
                String msg = "key " + k.getKey() + " round " + e.getKey() + ": " + why;
                for (PendingPull p : r.pulls) error(p.ctx(), p.requestId(), msg);
                it.remove();
                LOG.warn("summation server {}: {}", address(), msg);
            }
        }
    }

    private void error(ChannelHandlerContext ctx, long id, String message) {
        ByteBuf b = frame(ctx, Wire.ERROR, id, 2 + message.length() * 3);
        Wire.writeString(b, message);
        ctx.writeAndFlush(finish(b));
    }

    private void send(ChannelHandlerContext ctx, byte type, long id) {
        ctx.writeAndFlush(finish(frame(ctx, type, id, 0)));
    }

    private static ByteBuf frame(ChannelHandlerContext ctx, byte type, long id, int bodyBytes) {
        ByteBuf b = ctx.alloc().directBuffer(4 + 1 + 8 + bodyBytes);
        b.writeInt(0);
        b.writeByte(type);
        b.writeLong(id);
        return b;
    }

    private ByteBuf finish(ByteBuf b) {
        b.setInt(0, b.readableBytes() - 4);
        bytesOut.addAndGet(b.readableBytes());
        return b;
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        io.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
