package org.livetrain.ps;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.livetrain.ps.Wire.Frame;
import org.livetrain.ps.Wire.Message;
import org.livetrain.ps.Wire.Values;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * A worker's connections to every summation server shard, in the shape of ps-lite's {@code KVWorker}: two
 * verbs, {@link #push} and {@link #pull}, each returning a future to wait on, and {@link #pushPull} and
 * {@link #pullInto} that cut a whole tensor into chunks with keys {@code keyBase, keyBase+1, ...} and keep
 * every chunk in flight at once. What a key does with them is the server's (see {@link Wire}).
 *
 * <p>Every wait has a timeout, and a lost connection fails everything pending on it with a message that
 * names the server. Values handed to a push must not change until its future completes.
 */
public final class SummationClient implements PushPull, AutoCloseable {
    /** The round of a key that holds weights (asynchronous mode) rather than round sums. */
    public static final long WEIGHTS = Wire.WEIGHTS;
    private final List<Connection> servers = new ArrayList<>();
    private final EventLoopGroup group;
    private final Duration timeout;
    private final BooleanSupplier cancelled;
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong bytesPushed = new AtomicLong(), bytesPulled = new AtomicLong();

    public SummationClient(List<InetSocketAddress> endpoints, Credentials credentials, int worker, int workers, Duration timeout) throws IOException {
        this(endpoints, credentials, worker, workers, timeout, () -> false);
    }

    /** @param cancelled checked while waiting: a killed Spark task stops waiting at once */
    public SummationClient(List<InetSocketAddress> endpoints, Credentials credentials, int worker, int workers, Duration timeout,
                           BooleanSupplier cancelled) throws IOException {
        this.timeout = timeout;
        this.cancelled = cancelled;
        this.group = new NioEventLoopGroup(1, new DefaultThreadFactory("livetrain-ps-client", true));
        try {
            for (InetSocketAddress a : endpoints) servers.add(connect(new Connection(a, credentials, worker, workers)));
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * One shard's connection: the handshake (answer the server's CHALLENGE with a HELLO, check its WELCOME),
     * then its requests waiting for an answer (the values of a VALUES, or nothing). Until the server has proved
     * the key, only its CHALLENGE (once), a WELCOME whose proof checks, or an ERROR is accepted: any other frame
     * is a listener posing as a server, and the connection is closed with nothing sent after the HELLO.
     */
    private final class Connection extends SimpleChannelInboundHandler<Frame> {
        final InetSocketAddress address;
        final Map<Long, CompletableFuture<float[]>> pending = new ConcurrentHashMap<>();
        final CompletableFuture<Void> handshake = new CompletableFuture<>();
        private final Credentials credentials;
        private final int worker, workers;
        private byte[] serverNonce, clientNonce;
        private long helloId;
        volatile Channel channel;

        Connection(InetSocketAddress address, Credentials credentials, int worker, int workers) {
            this.address = address;
            this.credentials = credentials;
            this.worker = worker;
            this.workers = workers;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Frame f) {
            if (!ctx.channel().isActive()) return; // closing: frames left from the same read are not handled
            if (!handshake.isDone()) {
                handshake(ctx, f);
            } else {
                answer(f);
            }
        }

        /** The handshake's frames, in the one order a server of this job sends them. */
        private void handshake(ChannelHandlerContext ctx, Frame f) {
            Message m = f.message();
            if (m instanceof Wire.Challenge c && serverNonce == null) {
                hello(ctx, c);
            } else if (m instanceof Wire.Welcome w && serverNonce != null && f.id() == helloId) {
                welcome(ctx, w);
            } else if (m instanceof Wire.Error e) {
                refuse(ctx, "summation server " + address + ": " + e.message());
            } else {
                refuse(ctx, "summation server " + address + " answered the handshake with " + m.getClass().getSimpleName().toUpperCase(Locale.ROOT)
                        + " instead of proving the job's key: not a server of this job");
            }
        }

        /** An answer to a request. */
        private void answer(Frame f) {
            CompletableFuture<float[]> waiting = pending.remove(f.id());
            if (f.message() instanceof Wire.Error e) {
                String msg = "summation server " + address + ": " + e.message();
                if (waiting != null) waiting.completeExceptionally(new PsException(msg));
                else failAll(msg);
            } else if (waiting != null && f.message() instanceof Values v) {
                bytesPulled.addAndGet(Wire.frameBytes(v));
                waiting.complete(v.array());
            } else if (waiting != null) {
                waiting.complete(null);
            } // else: the request timed out already
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel(); // before the server's CHALLENGE can be read
            ctx.fireChannelActive();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            failAll("summation server " + address + " closed the connection");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failAll("summation server " + address + ": " + cause);
            ctx.close();
        }

        /** Proves this worker holds the job's key, for the server's nonce and one of its own. */
        private void hello(ChannelHandlerContext ctx, Wire.Challenge c) {
            serverNonce = c.nonce();
            clientNonce = Credentials.nonce();
            helloId = ids.incrementAndGet();
            Wire.Hello h = new Wire.Hello(clientNonce, worker, workers, credentials.clientProof(serverNonce, clientNonce, worker, workers));
            ctx.writeAndFlush(new Frame(helloId, h)).addListener(w -> {
                if (!w.isSuccess()) refuse(ctx, "cannot send HELLO to summation server " + address + ": " + w.cause());
            });
        }

        /** The server proved it holds the key too: encrypt from here on when the job does. */
        private void welcome(ChannelHandlerContext ctx, Wire.Welcome w) {
            if (!Credentials.matches(credentials.serverProof(serverNonce, clientNonce), w.proof())) {
                refuse(ctx, "summation server " + address + " does not hold the job's key: not a server of this job");
                return;
            }
            if (credentials.encrypt()) Wire.encrypt(ctx.pipeline(), credentials.cipher(serverNonce, clientNonce, false));
            handshake.complete(null);
        }

        /** The handshake failed: nothing more is sent or handled on this connection. */
        private void refuse(ChannelHandlerContext ctx, String why) {
            handshake.completeExceptionally(new PsException(why));
            ctx.close();
        }

        /** Sends a request; returns the future of its answer. */
        CompletableFuture<float[]> request(Message m) {
            CompletableFuture<float[]> f = new CompletableFuture<>();
            long id = ids.incrementAndGet();
            pending.put(id, f);
            channel.writeAndFlush(new Frame(id, m)).addListener(w -> {
                if (!w.isSuccess()) fail(id, "cannot send to summation server " + address + ": " + w.cause());
            });
            return f.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }

        void fail(long id, String msg) {
            CompletableFuture<float[]> f = pending.remove(id);
            if (f != null) f.completeExceptionally(new PsException(msg));
        }

        void failAll(String msg) {
            handshake.completeExceptionally(new PsException(msg)); // no-op once the handshake completed
            for (Long id : List.copyOf(pending.keySet())) fail(id, msg);
        }
    }

    private Connection connect(Connection c) throws IOException {
        InetSocketAddress address = c.address;
        Bootstrap b = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        Wire.pipeline(ch.pipeline(), Wire.MAX_FRAME, c);
                    }
                });
        ChannelFuture f = b.connect(address).awaitUninterruptibly();
        if (!f.isSuccess()) throw new IOException("cannot connect to summation server " + address + ": " + f.cause());
        try {
            await(c.handshake.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS), "summation server " + address);
        } catch (PsException e) {
            f.channel().close();
            throw e;
        }
        return c;
    }

    /** The shard that owns a key: a fixed hash of the key modulo the number of servers. */
    public int serverFor(int key) {
        int h = key;
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        h ^= h >>> 16;
        return Math.floorMod(h, servers.size());
    }

    public int servers() {
        return servers.size();
    }

    /** Pushes {@code n} values of {@code data} from {@code off} to a key's round; completes when the server has them. */
    public CompletableFuture<Void> push(int key, long round, float[] data, int off, int n, Compression c) {
        Wire.Push p = new Wire.Push(key, round, new Values(c, data, off, n));
        bytesPushed.addAndGet(Wire.frameBytes(p));
        return servers.get(serverFor(key)).request(p).thenApply(none -> null);
    }

    /** Pulls a key's round: completes with the values once the server can answer. */
    public CompletableFuture<float[]> pull(int key, long round, Compression c) {
        return servers.get(serverFor(key)).request(new Wire.Pull(key, round, c));
    }

    /**
     * Pushes every chunk of {@code data} and pulls it straight back into {@code data}: a synchronous round's
     * sum over all workers, or the weights right after this worker's step was added in asynchronous mode.
     */
    @Override
    public void pushPull(float[] data, int keyBase, long round, int chunkFloats, Compression c) {
        exchange(data, keyBase, round, chunkFloats, c, true);
    }

    /** Pulls every chunk into {@code data} without pushing. */
    @Override
    public void pullInto(float[] data, int keyBase, long round, int chunkFloats, Compression c) {
        exchange(data, keyBase, round, chunkFloats, c, false);
    }

    /** The one chunk loop: every chunk's requests go out before the first answer is awaited. */
    private void exchange(float[] data, int keyBase, long round, int chunkFloats, Compression c, boolean push) {
        int chunks = (data.length + chunkFloats - 1) / chunkFloats;
        List<CompletableFuture<Void>> pushes = new ArrayList<>(chunks);
        List<CompletableFuture<float[]>> pulls = new ArrayList<>(chunks);
        for (int k = 0; k < chunks; k++) {
            int off = k * chunkFloats;
            if (push) pushes.add(push(keyBase + k, round, data, off, Math.min(chunkFloats, data.length - off), c));
            pulls.add(pull(keyBase + k, round, c));
        }
        for (int k = 0; k < chunks; k++) {
            String what = "key " + (keyBase + k) + (round == WEIGHTS ? " (weights)" : " round " + round);
            if (push) await(pushes.get(k), "push to " + what);
            float[] answer = await(pulls.get(k), "pull of " + what);
            int n = Math.min(chunkFloats, data.length - k * chunkFloats);
            if (answer.length != n) throw new PsException("pull of " + what + ": " + answer.length + " values for a chunk of " + n);
            System.arraycopy(answer, 0, data, k * chunkFloats, answer.length);
        }
    }

    @Override
    public long bytesPushed() {
        return bytesPushed.get();
    }

    @Override
    public long bytesPulled() {
        return bytesPulled.get();
    }

    private <T> T await(CompletableFuture<T> f, String what) {
        try {
            while (true) {
                try {
                    return f.get(100, TimeUnit.MILLISECONDS);
                } catch (TimeoutException notYet) {
                    if (cancelled.getAsBoolean()) throw new PsException(what + ": cancelled (the task was killed)");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PsException(what + ": interrupted");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof TimeoutException) throw new PsException(what + ": no answer within " + timeout.toSeconds() + " s");
            String m = String.valueOf(c.getMessage());
            throw new PsException(m.startsWith(what) ? m : what + ": " + m, c); // a message that names the server already is not prefixed again
        }
    }

    @Override
    public void close() {
        for (Connection c : servers) {
            c.failAll("client closed");
            if (c.channel != null) c.channel.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
