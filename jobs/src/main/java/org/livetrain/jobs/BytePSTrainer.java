package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.image.Augmenter;
import org.livetrain.io.HadoopConf;
import org.livetrain.io.Storage;
import org.livetrain.model.Models;
import org.livetrain.ps.SummationClient;
import org.livetrain.ps.SummationServer;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import scala.collection.JavaConverters;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * The BytePS trainer: ONE barrier stage whose tasks are the workers (and, colocated, the summation
 * server shards). Tasks exchange server endpoints with {@code allGather}, train in lockstep through the
 * servers, evaluate every {@code --eval-every} steps and at each epoch end, and worker 0 publishes
 * checkpoints. The driver only watches the run's {@code history.jsonl} to print progress.
 *
 * <p>A failed task fails the stage as a whole (a barrier result stage is never retried by Spark). The driver
 * decides: an error no retry can fix ({@link LiveTrainException}) ends the run at once; any other (a lost
 * executor, a dead summation server, a timeout) starts the stage again, up to
 * {@code spark.stage.maxConsecutiveAttempts} attempts in all, and the new attempt resumes from the run's
 * own {@code latest.json}.
 */
final class BytePSTrainer {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(BytePSTrainer.class);
    static final Duration TIMEOUT = Duration.ofSeconds(120);
    /** How often worker 0 replaces progress.json. */
    static final long PROGRESS_EVERY_NANOS = 2_000_000_000L;
    /** Test hook: worker 1 fails once, in the first attempt, when it reaches this step. */
    static final String FAIL_AT_STEP = "spark.livetrain.test.failAtStep";
    /** Test hook: the first server shard dies in this round (= step), in the first attempt. */
    static final String KILL_SERVER_IN_ROUND = "spark.livetrain.test.killServerInRound";
    private final TrainingJob.Context ctx;

    BytePSTrainer(TrainingJob.Context ctx) {
        this.ctx = ctx;
    }

    /** What every task is handed (serialised into the stage's closure). */
    record Plan(TrainConfig config, Dataset data, int[] train, int[] dev, String model, HadoopConf hadoop, String token, String run,
                long startedMillis, int stepsPerEpoch, boolean resume, int attempt, long failAtStep, long killServerInRound) implements Serializable {
        Plan attempt(int n) {
            return new Plan(config, data, train, dev, model, hadoop, token, run, startedMillis, stepsPerEpoch, resume, n, failAtStep, killServerInRound);
        }

        /** The run's checkpoints, as worker 0 writes them and every worker resumes from them. */
        RunStore store() {
            return CheckpointStore.open(config.checkpointDir(), hadoop.get()).run(run, config.keep());
        }

        int tasks() {
            return config.workers() + config.servers();
        }

        boolean hostsServer(int task) {
            return config.servers() == 0 || task >= config.workers();
        }
    }

    void train() {
        TrainConfig c = ctx.config();
        byte[] secret = new byte[24];
        new SecureRandom().nextBytes(secret);
        int stepsPerEpoch = Runs.stepsPerEpoch(c, ctx.split());
        // elapsed_seconds counts the run's training time: a resumed run goes on from where it stopped
        long startedMillis = System.currentTimeMillis() - Math.round(ctx.elapsedSeconds() * 1000);
        Plan plan = new Plan(c, ctx.data(), ctx.split().train(), ctx.split().dev(), ctx.model().name(),
                new HadoopConf(ctx.spark().sparkContext().hadoopConfiguration()), HexFormat.of().formatHex(secret), ctx.run().id(),
                startedMillis, stepsPerEpoch, ctx.resumeFrom().isPresent(), 0,
                Long.parseLong(c.conf().getOrDefault(FAIL_AT_STEP, "-1")), Long.parseLong(c.conf().getOrDefault(KILL_SERVER_IN_ROUND, "-1")));
        ctx.progress().line("byteps: %d workers, %s, %d steps per epoch of global batch %d, evaluation every %d steps, partitions of %d bytes%s%s",
                c.workers(), c.servers() == 0 ? c.workers() + " colocated summation servers" : c.servers() + " dedicated summation server(s)",
                stepsPerEpoch, c.batch() * c.workers(), c.evalEvery(), c.partitionBytes(), c.fp16() ? ", fp16 on the wire" : "",
                c.async() ? ", asynchronous (servers hold the weights)" : "");
        printed = ctx.run().history().size(); // a resumed run prints only what it adds
        ctx.store().best().ifPresent(b -> {
            best = b.devAccuracy();
            bestWhere = where(b);
        });
        Thread monitor = new Thread(this::watchHistory, "livetrain-progress");
        monitor.setDaemon(true);
        monitor.start();
        try {
            runAttempts(plan);
        } finally {
            monitor.interrupt();
            try {
                monitor.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            printNewHistory();
        }
    }

    /**
     * Runs the barrier stage until it trains to the end. A failure a retry may get past starts it again,
     * resuming from the run's latest checkpoint: at once after a first failure, then after a pause that
     * doubles (2 s, 4 s, ... 30 s) while attempts fail without progress; {@code spark.stage.maxConsecutiveAttempts}
     * (default 4) such attempts in a row end the run. Any other failure ends it at once.
     */
    private void runAttempts(Plan plan) {
        int limit = ctx.spark().sparkContext().getConf().getInt("spark.stage.maxConsecutiveAttempts", 4);
        int failed = 0; // consecutive attempts that failed without publishing a later checkpoint
        for (int attempt = 0; ; attempt++) {
            long before = latestStep();
            Optional<String> why = runAttempt(plan.attempt(attempt));
            if (why.isEmpty()) return;
            failed = latestStep() > before ? 1 : failed + 1;
            if (failed >= limit) {
                throw new IllegalStateException("training failed in " + failed + " attempts in a row without progress (spark.stage.maxConsecutiveAttempts = "
                        + limit + "); the last: " + why.get());
            }
            long pause = failed <= 1 ? 0 : Math.min(30, 1L << (failed - 1));
            ctx.progress().line("attempt %d failed (%s); attempt %d resumes from %s%s", attempt + 1, why.get(), attempt + 2,
                    ctx.run().latest().map(p -> "step " + p.step()).orElse("the start: no checkpoint of this run yet"), pause > 0 ? " in " + pause + " s" : "");
            try {
                Thread.sleep(pause * 1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted between attempts", e);
            }
        }
    }

    private long latestStep() {
        try {
            return ctx.run().latest().map(Pointer::step).orElse(0L);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /**
     * One attempt: the barrier stage, run to its end. Returns empty when it trained to the end, or why it
     * failed when a retry may get past that; throws when nothing should be tried again: an error no retry can
     * fix, Spark stopped, the lock taken by another run, or a stage cancelled (every task killed, none failed).
     */
    private Optional<String> runAttempt(Plan plan) {
        ctx.failures().clear();
        try {
            List<Integer> tasks = IntStream.range(0, plan.tasks()).boxed().toList();
            JavaRDD<Integer> rdd = ctx.jsc().parallelize(tasks, plan.tasks());
            JavaRDD<String> trained = JavaRDD.fromRDD(rdd.rdd().barrier().mapPartitions(new Task(plan), false, ClassTag$.MODULE$.apply(String.class)),
                    ClassTag$.MODULE$.apply(String.class));
            List<String> summaries = trained.collect();
            if (summaries.size() != plan.tasks()) throw new IllegalStateException("barrier stage returned " + summaries);
            return Optional.empty();
        } catch (Exception e) { // a failed job is a SparkException, which Spark's Java API throws undeclared
            if (LiveTrainException.in(e).isPresent()) throw LiveTrainException.in(e).get();
            if (ctx.spark().sparkContext().isStopped()) throw new IllegalStateException("Spark stopped while training: " + Storage.firstLine(e), e);
            Optional<LiveTrainException> fatal = ctx.failures().afterFailedJob();
            if (fatal.isPresent()) throw fatal.get();
            if (!ctx.lock().held()) throw ctx.lock().lost();
            if (!ctx.failures().anyFailed()) throw new IllegalStateException("the training stage was cancelled: " + Storage.firstLine(e), e);
            return Optional.of(ctx.failures().firstFailure(e));
        }
    }

    private int printed;
    private final String watchFrom = java.time.Instant.now().toString();
    private double best = -1;
    private String bestWhere = "none yet";

    private String where(Pointer p) {
        return p.run() == null || p.run().equals(ctx.run().id()) ? "step " + p.step() : p.describe();
    }

    private void watchHistory() {
        String lastSeen = null;
        while (!Thread.currentThread().isInterrupted()) {
            printNewHistory();
            JsonNode position = ctx.run().progress().orElse(null);
            // a position written by this run only (an earlier run in the same directory left its own)
            if (position != null && !position.path("updated").asText().equals(lastSeen) && position.path("updated").asText().compareTo(watchFrom) > 0) {
                lastSeen = position.path("updated").asText();
                ctx.progress().position(position.path("step").asLong(), position.path("total_steps").asLong(),
                        position.path("steps_per_second").asDouble());
            }
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private synchronized void printNewHistory() {
        List<JsonNode> h;
        try {
            h = ctx.run().history();
        } catch (RuntimeException e) { // being replaced, or storage that did not answer: the next look will do
            return;
        }
        for (int i = printed; i < h.size(); i++) {
            JsonNode n = h.get(i);
            double acc = n.path("dev_accuracy").asDouble();
            boolean isBest = n.path("best").asBoolean();
            if (isBest) {
                best = acc;
                bestWhere = "step " + n.path("step").asLong();
            }
            ctx.progress().evaluation(n.path("epoch").asInt(), ctx.config().epochs(), n.path("step").asLong(),
                    n.path("examples_per_second").asDouble(), n.path("train_loss").asDouble(), acc, best, bestWhere, isBest);
        }
        printed = h.size();
    }

    /** One barrier task: a worker, a server shard, or both. */
    static final class Task extends AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<String>> implements Serializable {
        private final Plan plan;

        Task(Plan plan) {
            this.plan = plan;
        }

        @Override
        public scala.collection.Iterator<String> apply(scala.collection.Iterator<Integer> ignored) {
            BarrierTaskContext task = BarrierTaskContext.get();
            int id = task.partitionId();
            TrainConfig c = plan.config();
            SummationServer server = null;
            String summary;
            Resources open = new Resources();
            try {
                if (plan.hostsServer(id)) {
                    server = open.add(new SummationServer(executorAddress(task, id), 0, plan.token(), c.workers(), TIMEOUT));
                    boolean firstShard = id == (c.servers() == 0 ? 0 : c.workers());
                    if (firstShard && plan.killServerInRound() >= 0 && plan.attempt() == 0) server.dieInRound(plan.killServerInRound());
                }
                String[] endpoints = task.allGather(server == null ? "" : server.address().getHostString() + ":" + server.address().getPort());
                List<InetSocketAddress> servers = new ArrayList<>();
                for (String e : endpoints) {
                    if (e.isEmpty()) continue;
                    int colon = e.lastIndexOf(':');
                    servers.add(new InetSocketAddress(e.substring(0, colon), Integer.parseInt(e.substring(colon + 1))));
                }
                summary = id < c.workers() ? new WorkerLoop(plan, task, id, servers, open).run() : "server " + id;
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

        /** The executor's own address (never the wildcard). */
        static InetAddress executorAddress(BarrierTaskContext task, int id) throws java.net.UnknownHostException {
            String a = task.getTaskInfos()[id].address();
            int colon = a.lastIndexOf(':');
            String host = colon > 0 && a.indexOf(':') == colon ? a.substring(0, colon) : a;
            return InetAddress.getByName(host);
        }
    }

    /** How long a task that met an error no retry can fix keeps its connections open after failing. */
    static final Duration FATAL_LINGER = Duration.ofSeconds(5);

    /** What a task opened (servers, clients, the publisher), closed in the reverse order. */
    static final class Resources implements AutoCloseable {
        private final java.util.Deque<AutoCloseable> open = new java.util.ArrayDeque<>();

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

    /**
     * Worker 0 writes checkpoints in the background, from a snapshot (a clone) of the network, so that
     * the workers do not wait for zip compression and storage. Publications keep their order; a failed
     * one fails the worker at its next evaluation or at the end.
     */
    static final class Publisher implements AutoCloseable {
        private final RunStore store;
        private final java.util.concurrent.ExecutorService thread = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "livetrain-publisher");
            t.setDaemon(true);
            return t;
        });
        private java.util.concurrent.Future<?> last;

        Publisher(RunStore store) {
            this.store = store;
        }

        void publish(MultiLayerNetwork snapshot, CheckpointMeta meta) throws Exception {
            check();
            last = thread.submit(() -> store.publish(snapshot, meta));
        }

        /** Replaces progress.json in the background; a failed write only costs the bar a refresh. */
        void progress(Map<String, Object> fields) {
            thread.submit(() -> {
                try {
                    store.writeProgress(fields);
                } catch (RuntimeException e) {
                    LOG.warn("progress not written: {}", e.getMessage());
                }
            });
        }

        /** Rethrows a failed publication, if the last one is done. */
        private void check() throws Exception {
            if (last != null && last.isDone()) unwrap();
        }

        /** Waits for every publication. */
        void drain() throws Exception {
            if (last != null) unwrap();
        }

        private void unwrap() throws Exception {
            try {
                last.get();
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof Exception x ? x : new RuntimeException(e.getCause());
            }
        }

        /**
         * Waits (up to 60 s, even when the task is being killed) for the publication under way, so that no
         * attempt's checkpoint lands after the next attempt has started.
         */
        @Override
        public void close() {
            thread.shutdown();
            boolean interrupted = Thread.interrupted();
            long end = System.nanoTime() + 60_000_000_000L;
            while (!thread.isTerminated() && System.nanoTime() < end) {
                try {
                    thread.awaitTermination(1, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** The training loop of one worker. */
    static final class WorkerLoop {
        private final Plan plan;
        private final BarrierTaskContext task;
        private final int w;
        private final List<InetSocketAddress> servers;
        private final Resources open;

        WorkerLoop(Plan plan, BarrierTaskContext task, int w, List<InetSocketAddress> servers, Resources open) {
            this.plan = plan;
            this.task = task;
            this.w = w;
            this.servers = servers;
            this.open = open;
        }

        String run() throws Exception {
            TrainConfig c = plan.config();
            Dataset data = plan.data();
            int classes = data.numClasses();
            RunStore store = plan.store();
            Models.Kind kind = Models.Kind.valueOf(plan.model());
            // a later attempt (or --resume) continues from the run's own latest.json: parameters, updater state, step
            Optional<Pointer> latest = plan.attempt() > 0 || plan.resume() ? store.latest() : Optional.empty();
            MultiLayerNetwork net;
            long step = 0;
            if (latest.isPresent()) {
                Checkpoint cp = store.directory().load(latest.get(), true);
                net = cp.network();
                step = cp.meta().step();
            } else {
                net = Models.create(kind, data.shape(), classes, c.learningRate(), c.seed());
            }
            List<DataSet> dev = new ArrayList<>();
            int[] devSlice = Split.slices(plan.dev(), c.workers())[w];
            Batches.batches(data.pool().read(devSlice), TrainingJob.EVAL_BATCH, classes).forEachRemaining(dev::add);

            SummationClient ps = open.add(new SummationClient(servers, plan.token(), w, c.workers(), TIMEOUT, task::isInterrupted));
            Publisher publisher = open.add(new Publisher(store));
            DataParallelWorker worker = new DataParallelWorker(net, ps, c.workers(), c.partitionBytes(), c.fp16(), step);
            if (c.async()) worker.startAsync();
            long totalSteps = (long) plan.stepsPerEpoch() * c.epochs();
            long lastEvalStep = step, lastEvalNanos = System.nanoTime();
            long lastProgressStep = step, lastProgressNanos = System.nanoTime();
            long[] lastTiming = worker.timing();
            long lastPushed = 0, lastPulled = 0;
            double lossSum = 0;
            int lossCount = 0;
            while (step < totalSteps) {
                int epoch = (int) (step / plan.stepsPerEpoch()) + 1;
                int offset = (int) (step % plan.stepsPerEpoch());
                List<DataSet> batches = epochBatches(epoch, classes);
                for (int b = offset; b < batches.size(); b++) {
                    if (step == plan.failAtStep() && w == 1 && plan.attempt() == 0) {
                        throw new IllegalStateException("test hook " + FAIL_AT_STEP + ": worker 1 fails at step " + step);
                    }
                    if (c.async()) worker.stepAsync(batches.get(b));
                    else worker.step(batches.get(b));
                    step++;
                    lossSum += worker.score();
                    lossCount++;
                    if (w == 0 && System.nanoTime() - lastProgressNanos > PROGRESS_EVERY_NANOS) {
                        long now = System.nanoTime();
                        Map<String, Object> position = new LinkedHashMap<>();
                        position.put("step", step);
                        position.put("total_steps", totalSteps);
                        position.put("epoch", epoch);
                        position.put("epochs", c.epochs());
                        position.put("steps_per_second", (step - lastProgressStep) / ((now - lastProgressNanos) / 1e9));
                        position.put("updated", java.time.Instant.now().toString());
                        publisher.progress(position);
                        lastProgressNanos = now;
                        lastProgressStep = step;
                    }
                    boolean epochEnd = b == batches.size() - 1;
                    if (step % c.evalEvery() == 0 || epochEnd) {
                        double[] counts = worker.evaluate(dev, lossSum / Math.max(1, lossCount));
                        if (!c.async()) checkReplicas(worker); // asynchronous replicas differ by design
                        if (w == 0) {
                            long now = System.nanoTime();
                            long[] t = worker.timing();
                            long stepNanos = (t[0] - lastTiming[0]) + (t[1] - lastTiming[1]) + (t[2] - lastTiming[2]);
                            long steps = step - lastEvalStep;
                            Map<String, Object> stats = new LinkedHashMap<>();
                            stats.put("servers", servers.size());
                            stats.put("colocated", c.servers() == 0);
                            stats.put("partition_bytes", c.partitionBytes());
                            stats.put("compress", c.compress());
                            stats.put("global_batch", c.batch() * c.workers());
                            stats.put("learning_rate", c.learningRate());
                            stats.put("eval_every", c.evalEvery());
                            stats.put("augment", c.augment());
                            stats.put("async", c.async());
                            stats.put("nd4j_threads", Nd4j.getEnvironment().maxThreads());
                            stats.put("attempt", plan.attempt()); // above 0: the barrier stage was started again
                            stats.put("bytes_pushed_per_step", steps == 0 ? 0 : (worker.bytesPushed() - lastPushed) / steps);
                            stats.put("bytes_pulled_per_step", steps == 0 ? 0 : (worker.bytesPulled() - lastPulled) / steps);
                            stats.put("push_pull_share", stepNanos == 0 ? 0 : (double) (t[1] - lastTiming[1]) / stepNanos);
                            stats.put("step_ms", steps == 0 ? 0 : stepNanos / 1e6 / steps);
                            double examplesPerSecond = steps * (double) c.batch() * c.workers() / ((now - lastEvalNanos) / 1e9);
                            CheckpointMeta meta = CheckpointMeta.evaluation(step, epoch, counts[0] / counts[1], counts[2] / counts[1],
                                    counts[3] / c.workers(), c.trainer(), c.workers(), c.data(), kind.name().toLowerCase(Locale.ROOT),
                                    data.contract(), (System.currentTimeMillis() - plan.startedMillis()) / 1000.0, examplesPerSecond, stats);
                            publisher.publish(net.clone(), meta);
                            lastTiming = t;
                            lastPushed = worker.bytesPushed();
                            lastPulled = worker.bytesPulled();
                        }
                        lastEvalStep = step;
                        lastEvalNanos = System.nanoTime();
                        lossSum = 0;
                        lossCount = 0;
                    }
                }
            }
            publisher.drain();
            return "worker " + w + " finished at step " + step;
        }

        /** This worker's mini-batches of one epoch: its shard, shuffled, cut into batches of --batch. */
        private List<DataSet> epochBatches(int epoch, int classes) {
            TrainConfig c = plan.config();
            int[] shard = Split.shards(plan.train(), c.workers(), c.seed(), epoch)[w];
            List<LabeledImage> examples = new ArrayList<>(shard.length);
            plan.data().pool().read(shard).forEachRemaining(examples::add);
            Random rnd = new Random(c.seed() * 1_000_003L + epoch * 131L + w);
            Collections.shuffle(examples, rnd);
            if (c.augment()) {
                var contract = plan.data().contract();
                examples.replaceAll(e -> new LabeledImage(e.index(), e.label(), Augmenter.augment(e.pixels(), contract, rnd)));
            }
            List<DataSet> batches = new ArrayList<>();
            Batches.batches(examples.iterator(), c.batch(), classes).forEachRemaining(batches::add);
            return batches;
        }

        /** Replicas must stay identical: compare parameter checksums at every evaluation. */
        private void checkReplicas(DataParallelWorker worker) {
            long[] sums = worker.checksums(w);
            for (long other : sums) {
                if (other != sums[0]) {
                    throw new IllegalStateException("replicas diverged at step " + worker.steps() + ": parameter checksums "
                            + java.util.Arrays.toString(sums));
                }
            }
        }
    }
}
