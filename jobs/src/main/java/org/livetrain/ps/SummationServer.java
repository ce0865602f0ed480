package org.livetrain.ps;

import org.livetrain.metrics.Readings;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.livetrain.ps.Wire.Challenge;
import org.livetrain.ps.Wire.Frame;
import org.livetrain.ps.Wire.Hello;
import org.livetrain.ps.Wire.Pull;
import org.livetrain.ps.Wire.Push;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * One shard of the summation service (BytePS's "server"): it only adds. What a key does with pushes and
 * pulls is its {@link Key}: round sums, or weights in asynchronous mode (see {@link Wire}).
 *
 * <p>Whoever reaches the port is untrusted until its HELLO proves it holds the job's key, answering the
 * server's CHALLENGE ({@link Credentials}; encrypted from then on when the job encrypts): before that a
 * connection may send one HELLO-sized frame, within {@link #HANDSHAKE}; at most {@link #waitingSlots}
 * connections wait for their HELLO at a time, and when they are all taken a new connection takes the slot
 * of the oldest one from the address that holds the most (before HELLO a key holder looks like anyone else,
 * but an honest worker says HELLO within a round trip, while whoever fills the slots must keep them filled);
 * each worker has one live connection; a peer idle for {@link #IDLE} is closed.
 * After HELLO, frames are bounded by the longest key of the job's {@link KeySpace}, only its keys are
 * accepted, each with its own length, and a connection whose answers are not read stops being read.
 * Refusals are logged at most once per {@link #LOG_EVERY}. The server binds to the address it is given (the
 * executor's own), never to all interfaces. A round that is not complete within the timeout, or that can
 * no longer complete because a worker disconnected, fails its pending pulls with a clear error.
 *
 * <p><b>Threads:</b> every connection and the expiry timer run on one event-loop thread ({@code io}),
 * which alone owns {@link #keys} and {@link #gone}; nothing here takes a lock.
 */
public final class SummationServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SummationServer.class);
    private static final AttributeKey<Integer> WORKER = AttributeKey.valueOf("livetrain.worker");
    private static final AttributeKey<byte[]> NONCE = AttributeKey.valueOf("livetrain.nonce");

    static final Duration HANDSHAKE = Duration.ofSeconds(5), IDLE = Duration.ofMinutes(10), LOG_EVERY = Duration.ofSeconds(10);
    private final Credentials credentials;
    private final int workers;
    private final KeySpace keySpace;
    private final Duration roundTimeout;
    private final EventLoopGroup boss;
    private final EventLoopGroup io;
    private final Channel channel;
    private final Map<Integer, Key> keys = new HashMap<>();
    /** Workers whose connection closed: a round they did not push can never complete. */
    private final Set<Integer> gone = new HashSet<>();
    /** Each worker's one live connection. */
    private final Map<Integer, Channel> live = new HashMap<>();
    /** Connections that have not proved the key yet, oldest first. */
    private final Deque<Channel> unproven = new ArrayDeque<>();
    private final RoundWaits waits = new RoundWaits();
    private final RateLimitedLog refusals = new RateLimitedLog(LOG, LOG_EVERY);

    public SummationServer(InetAddress bind, int port, Credentials credentials, int workers, KeySpace keySpace, Duration roundTimeout)
            throws InterruptedException {
        if (bind.isAnyLocalAddress()) throw new IllegalArgumentException("refusing to bind the summation server to all interfaces");
        this.credentials = credentials;
        this.workers = workers;
        this.keySpace = keySpace;
        this.roundTimeout = roundTimeout;
        this.boss = new NioEventLoopGroup(1, new DefaultThreadFactory("livetrain-ps-accept", true));
        this.io = new NioEventLoopGroup(1, new DefaultThreadFactory("livetrain-ps-io", true));
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, io)
                .channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(1 << 20, (1 << 20) + 2 * maxFrame()))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        admit(ch);
                    }
                });
        this.channel = b.bind(new InetSocketAddress(bind, port)).sync().channel();
        io.scheduleAtFixedRate(this::expire, 1, 1, TimeUnit.SECONDS);
    }

    /** How many connections may wait for their HELLO at once: room for every worker twice, and never fewer than 16. */
    int waitingSlots() {
        return Math.max(16, 2 * workers);
    }

    /** A new connection: a slot before HELLO, HELLO-sized frames, a deadline for HELLO, an idle timeout. */
    private void admit(SocketChannel ch) {
        if (unproven.size() >= waitingSlots()) evict(oldestOfTheBusiestAddress());
        unproven.addLast(ch);
        ch.closeFuture().addListener(f -> unproven.remove(ch));
        ch.pipeline().addLast(new IdleStateHandler(0, 0, IDLE.toSeconds(), TimeUnit.SECONDS));
        // with reading paused, the requests already decoded from one read wait here rather than all being answered
        Wire.pipeline(ch.pipeline(), Wire.HELLO_FRAME, new FlowControlHandler(), new Handler());
        ch.eventLoop().schedule(() -> {
            if (ch.attr(WORKER).get() == null && ch.isOpen()) {
                refused("summation server {}: closed connection from {}: no HELLO within {} s", address(), ch.remoteAddress(), HANDSHAKE.toSeconds());
                ch.close();
            }
        }, HANDSHAKE.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Of the connections waiting for HELLO, the oldest of the address that has the most of them. */
    private Channel oldestOfTheBusiestAddress() {
        Map<InetAddress, Integer> perAddress = new HashMap<>();
        for (Channel c : unproven) perAddress.merge(peer(c), 1, Integer::sum);
        int most = Collections.max(perAddress.values());
        for (Channel c : unproven) {
            if (perAddress.get(peer(c)) == most) return c;
        }
        throw new IllegalStateException("no connection waits for HELLO");
    }

    private void evict(Channel c) {
        unproven.remove(c);
        refused("summation server {}: closed connection from {}: no HELLO yet, and a new connection needed its slot", address(), c.remoteAddress());
        c.close();
    }

    private static InetAddress peer(Channel c) {
        InetSocketAddress a = (InetSocketAddress) c.remoteAddress();
        return a == null ? null : a.getAddress();
    }

    private int maxFrame() {
        return Wire.frameFor(keySpace.maxLength());
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** How long this shard's key rounds waited for their workers. */
    public RoundWaits waits() {
        return waits;
    }

    private final class Handler extends SimpleChannelInboundHandler<Frame> {
        /** Every peer is challenged first: its HELLO must prove it holds the key for this nonce. */
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            byte[] nonce = Credentials.nonce();
            ctx.channel().attr(NONCE).set(nonce);
            ctx.writeAndFlush(new Frame(0, new Challenge(nonce)));
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Frame f) {
            if (!ctx.channel().isActive()) return; // closing: frames left from the same read are not handled
            Integer worker = ctx.channel().attr(WORKER).get();
            if (worker == null) {
                hello(ctx, f);
            } else if (f.message() instanceof Push p) {
                push(new Reply(ctx, f.id(), Compression.NONE), worker, p);
            } else if (f.message() instanceof Pull p) {
                pull(new Reply(ctx, f.id(), p.compression()), worker, p);
            } else {
                new Reply(ctx, f.id(), Compression.NONE).error("unexpected " + f.message().getClass().getSimpleName());
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            Integer w = ctx.channel().attr(WORKER).get();
            if (w != null && live.get(w) == ctx.channel()) { // a stray connection's close says nothing of the worker
                live.remove(w);
                workerGone(w);
            }
        }

        /** Answers that are not read stop the reading of requests, so a peer cannot make the shard queue without bound. */
        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            ctx.channel().config().setAutoRead(ctx.channel().isWritable());
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event instanceof IdleStateEvent) {
                LOG.warn("summation server {}: closed connection from {}: idle for {} minutes", address(), ctx.channel().remoteAddress(), IDLE.toMinutes());
                ctx.close();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (ctx.channel().attr(WORKER).get() == null) { // anyone who reaches the port: rate-limited
                refused("summation server {}: closed connection from {}: {}", address(), ctx.channel().remoteAddress(), cause.toString());
            } else {
                LOG.warn("summation server {}: connection {} failed: {}", address(), ctx.channel().remoteAddress(), cause.toString());
            }
            ctx.close();
        }
    }

    /** A connection closed or refused: counted (Spark's metrics, {@code workers.server_refusals}) and logged, at most so often. */
    private void refused(String format, Object... args) {
        Readings.Worker.SERVER_REFUSALS.add(1);
        refusals.warn(format, args);
    }

    private void hello(ChannelHandlerContext ctx, Frame f) {
        String refused = f.message() instanceof Hello h ? refusal(ctx, h) : "the first frame must be HELLO";
        if (refused != null) {
            refused("summation server {}: refused connection from {}: {}", address(), ctx.channel().remoteAddress(), refused);
            ctx.writeAndFlush(new Frame(f.id(), new Wire.Error(refused))).addListener(done -> ctx.close());
            return;
        }
        Hello h = (Hello) f.message();
        unproven.remove(ctx.channel());
        gone.remove(h.worker()); // a worker may reconnect
        live.put(h.worker(), ctx.channel());
        ctx.channel().attr(WORKER).set(h.worker());
        Wire.limitFrames(ctx.pipeline(), maxFrame());
        byte[] nonce = ctx.channel().attr(NONCE).get();
        ctx.writeAndFlush(new Frame(f.id(), new Wire.Welcome(credentials.serverProof(nonce, h.nonce()))));
        if (credentials.encrypt()) Wire.encrypt(ctx.pipeline(), credentials.cipher(nonce, h.nonce(), true));
    }

    /** Why a HELLO is refused, or null. */
    private String refusal(ChannelHandlerContext ctx, Hello h) {
        byte[] expected = credentials.clientProof(ctx.channel().attr(NONCE).get(), h.nonce(), h.worker(), h.workers());
        if (!Credentials.matches(expected, h.proof())) {
            return "the HELLO does not prove the job's key (another job, a wrong Spark secret, or encryption set differently)";
        }
        if (h.workers() != workers || h.worker() < 0 || h.worker() >= workers) {
            return "worker " + h.worker() + " of " + h.workers() + " does not fit a job of " + workers + " workers";
        }
        Channel current = live.get(h.worker());
        if (current != null && current.isActive()) return "worker " + h.worker() + " is connected already";
        return null;
    }

    private void push(Reply reply, int worker, Push p) {
        answer(reply, p.key(), p.round(), k -> {
            k.push(worker, p.round(), p.values().array());
            waits.pushed(p.round());
            reply.ack();
        });
    }

    private void pull(Reply reply, int worker, Pull p) {
        answer(reply, p.key(), p.round(), k -> k.pull(worker, p.round(), reply));
    }

    /** Runs a request on its key; a request the key cannot honour is answered with an error. */
    private void answer(Reply reply, int key, long round, Consumer<Key> request) {
        try {
            request.accept(key(key, round));
        } catch (IllegalStateException e) {
            reply.error(e.getMessage());
        }
    }

    /** The key, created on first use with the kind its first round asks for; only the job's keys. */
    private Key key(int key, long round) {
        boolean weights = round == Wire.WEIGHTS;
        int length = keySpace.lengthOf(key);
        if (length < 0) throw new IllegalStateException("no key " + key + " in this job");
        if (weights && !keySpace.weights()) throw new IllegalStateException("key " + key + ": this job is not asynchronous (no weights)");
        if (!weights && round < 0) throw new IllegalStateException("key " + key + ": no round " + round);
        Key k = keys.computeIfAbsent(key, n -> weights ? new Weights(n, length) : new RoundSums(n, workers, length, gone, waits));
        if (weights != k instanceof Weights) {
            throw new IllegalStateException("key " + key + " holds " + (weights ? "round sums" : "weights") + ", not " + (weights ? "weights" : "round " + round));
        }
        return k;
    }

    /** A worker's connection closed: rounds that still wait for it can never complete. */
    private void workerGone(int worker) {
        gone.add(worker);
        forEachKey(k -> k.workerGone(worker));
    }

    private void expire() {
        forEachKey(k -> k.expire(roundTimeout));
    }

    private void forEachKey(Function<Key, List<String>> action) {
        for (Key k : keys.values()) {
            for (String failed : action.apply(k)) LOG.warn("summation server {}: {}", address(), failed);
        }
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        io.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
