package org.livetrain.ps;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A worker's connections to every summation server shard. Requests are asynchronous and many are in
 * flight at once: the push of one chunk overlaps the pull of another. Every wait has a timeout, and a
 * lost connection fails everything pending on it with a message that names the server.
 */
public final class SummationClient implements AutoCloseable {
    private final List<Connection> servers = new ArrayList<>();
    private final EventLoopGroup group;
    private final Duration timeout;
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong bytesPushed = new AtomicLong(), bytesPulled = new AtomicLong();

    /** The reply to one request: the body of a PULL_REPLY, or nothing. */
    private static final class Connection {
        final InetSocketAddress address;
        final Channel channel;
        final Map<Long, CompletableFuture<float[]>> pending = new ConcurrentHashMap<>();

        Connection(InetSocketAddress address, Channel channel) {
            this.address = address;
            this.channel = channel;
        }
    }

    private final java.util.function.BooleanSupplier cancelled;

    public SummationClient(List<InetSocketAddress> endpoints, String token, int worker, int workers, Duration timeout) throws IOException {
        this(endpoints, token, worker, workers, timeout, () -> false);
    }

    /** @param cancelled checked while waiting: a killed Spark task stops waiting at once */
    public SummationClient(List<InetSocketAddress> endpoints, String token, int worker, int workers, Duration timeout,
                           java.util.function.BooleanSupplier cancelled) throws IOException {
        this.timeout = timeout;
        this.cancelled = cancelled;
        this.group = new NioEventLoopGroup(1, new DefaultThreadFactory("livetrain-ps-client", true));
        try {
            for (InetSocketAddress a : endpoints) servers.add(connect(a, token, worker, workers));
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    private Connection connect(InetSocketAddress address, String token, int worker, int workers) throws IOException {
        Connection[] holder = new Connection[1];
        Bootstrap b = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(Wire.MAX_FRAME, 0, 4, 0, 4), new SimpleChannelInboundHandler<ByteBuf>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf in) {
                                reply(holder[0], in);
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                failAll(holder[0], "summation server " + address + " closed the connection");
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                failAll(holder[0], "summation server " + address + ": " + cause);
                                ctx.close();
                            }
                        });
                    }
                });
        io.netty.channel.ChannelFuture f = b.connect(address).awaitUninterruptibly();
        if (!f.isSuccess()) throw new IOException("cannot connect to summation server " + address + ": " + f.cause());
        Connection c = new Connection(address, f.channel());
        holder[0] = c;
        ByteBuf hello = start(c, Wire.HELLO, nextId(c), 64 + token.length() * 3);
        Wire.writeString(hello, token);
        hello.writeInt(worker);
        hello.writeInt(workers);
        await(send(c, hello), "HELLO to " + address);
        return c;
    }

    private long nextId(Connection c) {
        long id = ids.incrementAndGet();
        c.pending.put(id, new CompletableFuture<>());
        return id;
    }

    private static ByteBuf start(Connection c, byte type, long id, int bodyBytes) {
        ByteBuf b = c.channel.alloc().directBuffer(13 + bodyBytes);
        b.writeInt(0);
        b.writeByte(type);
        b.writeLong(id);
        return b;
    }

    /** Sends a frame whose request id is registered; returns the future of its reply. */
    private CompletableFuture<float[]> send(Connection c, ByteBuf frame) {
        long id = frame.getLong(5);
        frame.setInt(0, frame.readableBytes() - 4);
        CompletableFuture<float[]> f = c.pending.get(id);
        c.channel.writeAndFlush(frame).addListener(w -> {
            if (!w.isSuccess()) fail(c, id, "cannot send to summation server " + c.address + ": " + w.cause());
        });
        return f.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void reply(Connection c, ByteBuf in) {
        byte type = in.readByte();
        long id = in.readLong();
        CompletableFuture<float[]> f = c.pending.remove(id);
        if (type == Wire.ERROR) {
            String msg = "summation server " + c.address + ": " + Wire.readString(in);
            if (f != null) f.completeExceptionally(new PsException(msg));
            else failAll(c, msg);
            return;
        }
        if (f == null) return; // timed out already
        if (type == Wire.PULL_REPLY) {
            bytesPulled.addAndGet(in.readableBytes() + 13L);
            f.complete(Wire.readFloats(in));
        } else {
            f.complete(null);
        }
    }

    private void fail(Connection c, long id, String msg) {
        CompletableFuture<float[]> f = c.pending.remove(id);
        if (f != null) f.completeExceptionally(new PsException(msg));
    }

    private void failAll(Connection c, String msg) {
        if (c == null) return;
        for (Long id : List.copyOf(c.pending.keySet())) fail(c, id, msg);
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

    public CompletableFuture<float[]> push(int key, long round, float[] data, int off, int n, boolean fp16) {
        Connection c = servers.get(serverFor(key));
        byte dtype = fp16 ? Wire.FP16 : Wire.FP32;
        ByteBuf b = start(c, Wire.PUSH, nextId(c), 12 + Wire.payloadBytes(dtype, n));
        b.writeInt(key);
        b.writeLong(round);
        Wire.writeFloats(b, dtype, data, off, n);
        bytesPushed.addAndGet(b.readableBytes());
        return send(c, b);
    }

    public CompletableFuture<float[]> pull(int key, long round, boolean fp16) {
        Connection c = servers.get(serverFor(key));
        ByteBuf b = start(c, Wire.PULL, nextId(c), 13);
        b.writeInt(key);
        b.writeLong(round);
        b.writeByte(fp16 ? Wire.FP16 : Wire.FP32);
        return send(c, b);
    }

    /**
     * Sums {@code data} over all workers in place: cuts it into chunks of {@code chunkFloats} with keys
     * {@code keyBase, keyBase+1, ...}, pushes every chunk and pulls it straight away (the server answers
     * when the round is complete), so all chunks are in flight together.
     */
    public void allReduce(float[] data, int keyBase, long round, int chunkFloats, boolean fp16) {
        int chunks = (data.length + chunkFloats - 1) / chunkFloats;
        List<CompletableFuture<float[]>> pushes = new ArrayList<>(chunks), pulls = new ArrayList<>(chunks);
        for (int k = 0; k < chunks; k++) {
            int off = k * chunkFloats, n = Math.min(chunkFloats, data.length - off);
            pushes.add(push(keyBase + k, round, data, off, n, fp16));
            pulls.add(pull(keyBase + k, round, fp16));
        }
        for (int k = 0; k < chunks; k++) {
            await(pushes.get(k), "push of key " + (keyBase + k) + " round " + round);
            float[] sum = await(pulls.get(k), "pull of key " + (keyBase + k) + " round " + round);
            System.arraycopy(sum, 0, data, k * chunkFloats, sum.length);
        }
    }

    // ---- asynchronous mode

    private CompletableFuture<float[]> keyed(byte type, int key, float[] data, int off, int n, boolean fp16) {
        Connection c = servers.get(serverFor(key));
        byte dtype = fp16 ? Wire.FP16 : Wire.FP32;
        ByteBuf b = start(c, type, nextId(c), 4 + (data == null ? 1 : Wire.payloadBytes(dtype, n)));
        b.writeInt(key);
        if (data == null) {
            b.writeByte(dtype);
        } else {
            Wire.writeFloats(b, dtype, data, off, n);
            bytesPushed.addAndGet(b.readableBytes());
        }
        return send(c, b);
    }

    /** Gives every chunk of {@code params} to its server as the starting weights (the first INIT of a key wins). */
    public void initWeights(float[] params, int keyBase, int chunkFloats) {
        List<CompletableFuture<float[]>> acks = new ArrayList<>();
        for (int k = 0, off = 0; off < params.length; k++, off += chunkFloats) {
            acks.add(keyed(Wire.INIT, keyBase + k, params, off, Math.min(chunkFloats, params.length - off), false));
        }
        for (int k = 0; k < acks.size(); k++) await(acks.get(k), "init of key " + (keyBase + k));
    }

    /**
     * Adds {@code delta} to the servers' weights and replaces it with the weights as they are right after:
     * each chunk's ADD and GET go out together (a connection keeps their order), all chunks at once.
     */
    public void addAndGet(float[] delta, int keyBase, int chunkFloats, boolean fp16) {
        int chunks = (delta.length + chunkFloats - 1) / chunkFloats;
        List<CompletableFuture<float[]>> adds = new ArrayList<>(chunks), gets = new ArrayList<>(chunks);
        for (int k = 0; k < chunks; k++) {
            int off = k * chunkFloats, n = Math.min(chunkFloats, delta.length - off);
            adds.add(keyed(Wire.ADD, keyBase + k, delta, off, n, fp16));
            gets.add(keyed(Wire.GET, keyBase + k, null, 0, 0, fp16));
        }
        for (int k = 0; k < chunks; k++) {
            await(adds.get(k), "add to key " + (keyBase + k));
            float[] w = await(gets.get(k), "get of key " + (keyBase + k));
            System.arraycopy(w, 0, delta, k * chunkFloats, w.length);
        }
    }

    public long bytesPushed() {
        return bytesPushed.get();
    }

    public long bytesPulled() {
        return bytesPulled.get();
    }

    private float[] await(CompletableFuture<float[]> f, String what) {
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
            throw new PsException(what + ": " + c.getMessage(), c);
        }
    }

    @Override
    public void close() {
        for (Connection c : servers) {
            failAll(c, "client closed");
            c.channel.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
