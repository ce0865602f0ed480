package org.livetrain.jobs.byteps;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Pool;
import org.livetrain.model.NativeKernels;
import org.livetrain.model.NativeMemory;
import org.livetrain.ps.SummationServer;
import org.livetrain.store.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * One task of the BytePS barrier stage: a worker, a summation-server shard, or both (colocated). The tasks
 * first tell each other their executors ({@code allGather}: which workers share a JVM, see {@link Placement}),
 * then each starts its shard on the executor's own address and they exchange endpoints; a worker runs the
 * {@link WorkerLoop}, and every task waits at the barrier until every worker is done.
 */
final class BarrierTask extends AbstractFunction1<Iterator<Pool.Checked>, Iterator<String>> implements Serializable {
    /** How long a task that met an error no retry can fix keeps its connections open after failing. */
    static final Duration FATAL_LINGER = Duration.ofSeconds(5);
    private static final Logger LOG = LoggerFactory.getLogger(BarrierTask.class);
    private final BytePSTrainer.Plan plan;

    BarrierTask(BytePSTrainer.Plan plan) {
        this.plan = plan;
    }

    @Override
    public Iterator<String> apply(Iterator<Pool.Checked> shard) {
        NativeKernels.enable(); // also in a session without LiveTrain's plugin (a Spark ML fit in a user's spark-shell)
        NativeMemory.guard();
        BarrierTaskContext task = BarrierTaskContext.get();
        int id = task.partitionId();
        String summary;
        Resources open = new Resources();
        try {
            String[] said = task.allGather(SparkEnv.get().executorId() + "\n" + resumeFrom(id));
            Placement placement = plan.placement(executors(said), id);
            SummationServer server = plan.hostsServer(id) ? open.add(startServer(task, id, placement.groups())) : null;
            List<InetSocketAddress> servers = endpoints(task.allGather(server == null ? "" : server.address().getHostString() + ":" + server.address().getPort()));
            summary = id < plan.config().workers() ? new WorkerLoop(plan, task, id, servers, agreedResume(said), placement, server, open).run(JavaConverters.asJavaIterator(shard)) : "server " + id;
            task.barrier(); // every worker is done before any server goes away
        } catch (Exception e) {
            Optional<LiveTrainException> fatal = LiveTrainException.in(e);
            if (fatal.isPresent()) {
                // an error no retry can fix travels as it is, so that the driver recognises it, and before the
                // peers learn of it: were they to fail first on the lost connections, Spark would kill this task
                // and report it as killed, without its error
                open.closeLater(FATAL_LINGER);
                throw fatal.get();
            }
            throw e instanceof RuntimeException re ? re : new RuntimeException(e);
        } finally {
            open.close();
        }
        return JavaConverters.asScalaIterator(List.of(summary).iterator());
    }

    /** A shard for {@code pushers} workers: one per local group. */
    private SummationServer startServer(BarrierTaskContext task, int id, int pushers) throws Exception {
        SummationServer server = new SummationServer(executorAddress(task, id), 0, plan.security().credentials(), pushers, plan.keySpace(),
                BytePSTrainer.TIMEOUT);
        boolean firstShard = id == (plan.config().byteps().servers() == 0 ? 0 : plan.config().workers());
        if (firstShard) plan.hooks().shardStarted(server, plan.attempt());
        return server;
    }

    /**
     * Where a later attempt (or --resume) continues: the run's latest.json as task 0 reads it, once for all, so
     * that a pointer moving meanwhile (a late publication) cannot make the workers start from different steps.
     * Task 0 first fences the run for this attempt.
     */
    private String resumeFrom(int id) {
        if (id != 0) return "";
        plan.store().fence(plan.attempt()); // an earlier attempt's publisher, if still draining, publishes nothing more
        if (plan.attempt() == 0 && !plan.job().resume()) return "";
        return plan.store().latest().map(Pointer::toJson).orElse("");
    }

    private static Optional<Pointer> agreedResume(String[] said) {
        String json = said[0].substring(said[0].indexOf('\n') + 1);
        return json.isEmpty() ? Optional.empty() : Optional.of(Pointer.fromJson(json));
    }

    /** Each task's executor id, from what every task said first (the id, a line, then task 0's resume pointer). */
    private static String[] executors(String[] said) {
        String[] ids = new String[said.length];
        for (int t = 0; t < said.length; t++) ids[t] = said[t].substring(0, said[t].indexOf('\n'));
        return ids;
    }

    /** The servers' endpoints, from what every task said second ({@code host:port}, or nothing for a task without a shard). */
    private static List<InetSocketAddress> endpoints(String[] said) {
        List<InetSocketAddress> servers = new ArrayList<>();
        for (String e : said) {
            if (e.isEmpty()) continue;
            int colon = e.lastIndexOf(':');
            servers.add(new InetSocketAddress(e.substring(0, colon), Integer.parseInt(e.substring(colon + 1))));
        }
        return servers;
    }

    /** The executor's own address (never the wildcard). */
    static InetAddress executorAddress(BarrierTaskContext task, int id) throws UnknownHostException {
        String a = task.getTaskInfos()[id].address();
        int colon = a.lastIndexOf(':');
        String host = colon > 0 && a.indexOf(':') == colon ? a.substring(0, colon) : a;
        return InetAddress.getByName(host);
    }

    /** What a task opened (servers, clients, the publisher), closed in the reverse order. */
    static final class Resources implements AutoCloseable {
        private final Deque<AutoCloseable> open = new ArrayDeque<>();

        <T extends AutoCloseable> T add(T resource) {
            open.push(resource);
            return resource;
        }

        @Override
        public void close() {
            while (!open.isEmpty()) {
                try {
                    open.pop().close();
                } catch (Exception e) {
                    LOG.warn("closing: {}", e.toString());
                }
            }
        }

        /** Closes everything after {@code delay}, on a thread of its own; nothing is left for {@link #close}. */
        void closeLater(Duration delay) {
            Resources later = new Resources();
            while (!open.isEmpty()) later.open.addLast(open.pop());
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(delay.toMillis());
                } catch (InterruptedException ignored) {
                    // close now
                }
                later.close();
            }, "livetrain-close-after-failure");
            t.setDaemon(true);
            t.start();
        }
    }
}
