package org.livetrain.jobs.byteps;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;
import org.livetrain.data.Batches;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Pool;
import org.livetrain.data.ShardCache;
import org.livetrain.data.Split;
import org.livetrain.image.Augmenter;
import org.livetrain.jobs.training.SparkNetwork;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.model.NativeKernels;
import org.livetrain.model.Network;
import org.livetrain.ps.LocalGroup;
import org.livetrain.ps.PushPull;
import org.livetrain.ps.RoundWaits;
import org.livetrain.ps.SummationClient;
import org.livetrain.ps.SummationServer;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.Pointer;
import org.livetrain.store.Position;
import org.livetrain.store.RunStore;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Random;

/**
 * The training loop of one BytePS worker, in the steps BytePS's own loops have: restore or create the
 * network, then for every mini-batch a data-parallel step through the summation servers; worker 0 writes
 * the position every {@value #POSITION_EVERY_SECONDS} s, and every {@code --eval-every} steps and at each
 * epoch end all workers evaluate, compare their parameters, and worker 0 publishes a checkpoint.
 */
final class WorkerLoop {
    static final long POSITION_EVERY_SECONDS = 2;
    /** Heap a worker may keep its prepared shard in before the rest goes to local disk. */
    static final String SHARD_MEMORY = "spark.livetrain.shardMemory";
    private static final Logger LOG = LoggerFactory.getLogger(WorkerLoop.class);
    private final BytePSTrainer.Plan plan;
    private final TrainConfig config;
    private final BarrierTaskContext task;
    /** This worker's number, 0 to workers - 1: worker 0 also writes the position and publishes. */
    private final int index;
    private final List<InetSocketAddress> servers;
    private final Placement placement;
    /** The waits of this task's own shard (colocated), or null. */
    private final RoundWaits waits;
    private final BarrierTask.Resources open;
    private final RunStore store;
    private final long totalSteps;
    private Network net;
    private DataParallelWorker worker;
    private final Optional<Pointer> resumeFrom;
    private Publisher publisher;
    private long step;
    private Window window;
    private long positionStep, positionNanos;
    private final StepReadings readings = new StepReadings();
    /** This worker's training examples, prepared: read before the first step, kept for every epoch. */
    private ShardCache shard;
    private Iterator<Pool.Checked> firstPass;

    WorkerLoop(BytePSTrainer.Plan plan, BarrierTaskContext task, int index, List<InetSocketAddress> servers, Optional<Pointer> resumeFrom,
               Placement placement, SummationServer shard, BarrierTask.Resources open) {
        this.placement = placement;
        this.waits = shard == null ? null : shard.waits();
        this.plan = plan;
        this.config = plan.config();
        this.task = task;
        this.index = index;
        this.servers = servers;
        this.resumeFrom = resumeFrom;
        this.open = open;
        this.store = plan.store();
        this.totalSteps = (long) plan.stepsPerEpoch() * config.epochs();
    }

    /**
     * Trains to the last step of the last epoch; returns what this worker did, in words. {@code firstPass}: this
     * task's partition of the data check's first pass (its shard, read and prepared), empty when it reads its shard itself.
     */
    String run(Iterator<Pool.Checked> firstPass) throws Exception {
        this.firstPass = firstPass;
        restoreOrCreate();
        List<DataSet> dev = devSlice();
        connect();
        int perEpoch = plan.stepsPerEpoch();
        while (step < totalSteps) {
            int epoch = (int) (step / perEpoch) + 1;
            Iterator<DataSet> batches = epochBatches(epoch, (int) (step % perEpoch));
            if (index == 0) plan.job().epochs().add(1);
            for (int b = (int) (step % perEpoch); b < perEpoch; b++) {
                if (!batches.hasNext()) throw new IllegalStateException("worker " + index + ": its shard ran out at batch " + b + " of " + perEpoch);
                step(batches.next());
                if (index == 0) writePosition(epoch);
                if (step % config.byteps().evalEvery() == 0 || b == perEpoch - 1) evaluateAndPublish(epoch, dev);
            }
        }
        publisher.drain();
        return "worker " + index + " finished at step " + step;
    }

    /** A later attempt (or --resume) continues from the checkpoint the tasks agreed on: parameters, updater state, step. */
    private void restoreOrCreate() {
        if (resumeFrom.isPresent()) {
            Checkpoint cp = store.directory().load(resumeFrom.get(), true);
            net = cp.network();
            step = cp.meta().step();
        } else {
            net = plan.model().create(plan.data().shape(), plan.data().numClasses(), config.learningRate(), config.seed());
        }
    }

    /** This worker's slice of the dev split, in batches. */
    private List<DataSet> devSlice() {
        List<DataSet> dev = new ArrayList<>();
        int[] slice = Split.slices(plan.inputs().dev(), config.workers())[index];
        Batches.batches(plan.data().pool().read(slice), SparkNetwork.EVAL_BATCH, plan.data().numClasses()).forEachRemaining(dev::add);
        return dev;
    }

    private void connect() throws Exception {
        publisher = open.add(new Publisher(store, plan.data().contract(), plan.hooks(), plan.attempt()));
        PushPull exchange = plan.hooks().exchange(exchange(), index, plan.attempt());
        worker = new DataParallelWorker(net, exchange, config.workers(), config.byteps().partitionBytes(), config.byteps().compress(), step);
        if (config.byteps().async()) worker.startAsync(index);
        window = new Window(step, worker, waits);
        readings.from(worker.computeNanos(), worker.exchangeNanos(), worker.bytesPushed(), worker.bytesPulled());
        positionStep = step;
        positionNanos = System.nanoTime();
    }

    /**
     * How this worker reaches the servers: its own client, or (local reduction) through its JVM's local group,
     * whose leader alone holds a client, as worker {@code group} of {@code groups}.
     */
    private PushPull exchange() throws Exception {
        PushPull ps = placement.leader()
                ? open.add(new SummationClient(servers, plan.security().credentials(), placement.group(), placement.groups(), BytePSTrainer.TIMEOUT, task::isInterrupted))
                : null;
        if (placement.members() == 1) return ps;
        // unique in this JVM: one run trains in a directory at a time, and an attempt's groups close before the next starts
        String name = placement.group() + " of run " + plan.job().run() + ", attempt " + (plan.attempt() + 1);
        return open.add(LocalGroup.join(name, placement.members(), BytePSTrainer.TIMEOUT)).member(placement.rank(), ps, task::isInterrupted);
    }

    /** One data-parallel step: the local gradient, summed through the servers, applied by DL4J's updater. */
    private void step(DataSet batch) {
        if (config.byteps().async()) worker.stepAsync(batch);
        else worker.step(batch);
        step++;
        double loss = worker.score();
        window.loss(loss);
        readings.step(step, batch.numExamples(), loss, worker.computeNanos(), worker.exchangeNanos(), worker.bytesPushed(), worker.bytesPulled());
        plan.job().workerSteps().add(1);
    }

    /** Worker 0 replaces progress.json every few seconds (in the background): what the driver's bar shows. */
    private void writePosition(int epoch) {
        long now = System.nanoTime();
        if (now - positionNanos < POSITION_EVERY_SECONDS * 1_000_000_000L) return;
        publisher.progress(new Position(step, totalSteps, epoch, config.epochs(), (step - positionStep) / ((now - positionNanos) / 1e9), Instant.now().toString()));
        positionNanos = now;
        positionStep = step;
    }

    /** All workers score their dev slices (summed through the servers) and compare parameters; worker 0 publishes. */
    private void evaluateAndPublish(int epoch, List<DataSet> dev) throws Exception {
        DataParallelWorker.Evaluation ev = worker.evaluate(dev, window.meanLoss());
        if (!config.byteps().async()) checkReplicas(); // asynchronous replicas differ by design
        if (index == 0) {
            CheckpointMeta meta = CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, epoch, ev.devAccuracy(), ev.devLoss(), ev.trainLoss()),
                    new CheckpointMeta.Origin(config.trainer().id(), config.workers(), config.data().spec(), plan.model().name(), null),
                    new CheckpointMeta.Timing((System.currentTimeMillis() - plan.job().startedMillis()) / 1000.0,
                            window.examplesPerSecond(step, config.batch() * config.workers())), stats());
            publisher.publish(net.copy(), meta);
        }
        window = new Window(step, worker, waits);
    }

    /** The BytePS figures of a checkpoint: its settings and what the steps since the last evaluation cost. */
    private Map<String, Object> stats() {
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("servers", servers.size());
        stats.put("colocated", config.byteps().servers() == 0);
        stats.put("partition_bytes", config.byteps().partitionBytes());
        stats.put("compress", config.byteps().compress().name().toLowerCase(Locale.ROOT));
        stats.put("global_batch", config.batch() * config.workers());
        stats.put("learning_rate", config.learningRate());
        stats.put("eval_every", config.byteps().evalEvery());
        stats.put("augment", config.byteps().augment());
        stats.put("async", config.byteps().async());
        stats.put("encrypted", plan.security().encrypt());
        stats.put("pushers", placement.groups()); // workers that talk to the servers: one per local group
        stats.put("local_group", placement.members());
        stats.put("nd4j_threads", Nd4j.getEnvironment().maxThreads());
        stats.put("native_kernels", NativeKernels.enabled());
        stats.put("attempt", plan.attempt()); // above 0: the barrier stage was started again
        stats.put("shard_on_disk", shard != null && shard.spilled()); // larger than spark.livetrain.shardMemory
        stats.putAll(window.costs(step, worker));
        return stats;
    }

    /**
     * This worker's mini-batches of one epoch, from {@code from} on: its shard (the same every epoch, read and
     * prepared once, kept in memory or on local disk), shuffled, changed (--augment), cut into batches of --batch.
     */
    private Iterator<DataSet> epochBatches(int epoch, int from) throws IOException {
        if (shard == null) shard = open.add(readShard());
        Random rnd = new Random(config.seed() * 1_000_003L + epoch * 131L + index);
        Iterator<LabeledImage> examples = limit(shard.epoch(rnd), plan.job().examplesPerEpoch()); // a shard that lost bad examples is the shortest
        for (long k = (long) from * config.batch(); k > 0 && examples.hasNext(); k--) examples.next();
        if (config.byteps().augment()) examples = augmented(examples, rnd);
        return Batches.batches(examples, config.batch(), plan.data().numClasses());
    }

    /**
     * This worker's shard (dealt once per run), prepared and kept within {@link #shardMemory} bytes of heap, the rest
     * spilled to the executor's local directory: as the data check's first pass left it, or read here from the data
     * (IDX files, which need no check).
     */
    private ShardCache readShard() throws IOException {
        int[] mine = Split.fixedShards(plan.inputs().train(), config.workers(), config.seed())[index];
        Iterator<LabeledImage> examples = plan.job().firstPass() ? Pool.examples(firstPass, counted -> { }) : plan.data().pool().read(mine); // refusals: counted by the check
        long budget = shardMemory();
        ShardCache kept = ShardCache.of(examples, mine.length, budget, Path.of(SparkFiles.getRootDirectory()), config.seed() + index);
        if (kept.spilled()) LOG.info("worker {}: its shard of {} examples is larger than {} MB: kept on local disk", index, kept.size(), budget >> 20);
        return kept;
    }

    /**
     * The heap a worker may keep its shard in: {@code spark.livetrain.shardMemory} (bytes, as Spark writes sizes:
     * {@code 2g}), else a quarter of the executor's heap shared by the worker tasks in it.
     */
    private long shardMemory() {
        long share = Runtime.getRuntime().maxMemory() / 4 / Math.max(1, placement.local());
        return SparkEnv.get().conf().getSizeAsBytes(SHARD_MEMORY, String.valueOf(share));
    }

    /** The first {@code n} examples: every worker steps through the same number, in batches of the same sizes. */
    private static Iterator<LabeledImage> limit(Iterator<LabeledImage> examples, int n) {
        return new Iterator<>() {
            private int left = n;

            @Override
            public boolean hasNext() {
                return left > 0 && examples.hasNext();
            }

            @Override
            public LabeledImage next() {
                if (!hasNext()) throw new NoSuchElementException();
                left--;
                return examples.next();
            }
        };
    }

    private Iterator<LabeledImage> augmented(Iterator<LabeledImage> examples, Random rnd) {
        var contract = plan.data().contract();
        var profile = contract.profile();
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return examples.hasNext();
            }

            @Override
            public LabeledImage next() {
                LabeledImage e = examples.next();
                return new LabeledImage(e.index(), e.label(), Augmenter.augment(e.pixels(), contract, profile, rnd));
            }
        };
    }

    /** Replicas must stay identical: compare parameter checksums at every evaluation. */
    private void checkReplicas() {
        long[] sums = worker.checksums(index);
        for (long other : sums) {
            if (other != sums[0]) throw new IllegalStateException("replicas diverged at step " + worker.steps() + ": parameter checksums " + Arrays.toString(sums));
        }
    }

    /** The figures of the steps since the last evaluation: their losses, their time and the bytes they moved. */
    private static final class Window {
        private final long startStep, startNanos, pushed, pulled;
        private final DataParallelWorker.Timing timing;
        private final RoundWaits waits;
        private final long waitNanos, waitRounds;
        private double lossSum;
        private int losses;

        Window(long step, DataParallelWorker worker, RoundWaits waits) {
            this.waits = waits;
            this.waitNanos = waits == null ? 0 : waits.nanos();
            this.waitRounds = waits == null ? 0 : waits.rounds();
            this.startStep = step;
            this.startNanos = System.nanoTime();
            this.timing = worker.timing();
            this.pushed = worker.bytesPushed();
            this.pulled = worker.bytesPulled();
        }

        void loss(double value) {
            lossSum += value;
            losses++;
        }

        double meanLoss() {
            return lossSum / Math.max(1, losses);
        }

        double examplesPerSecond(long step, int globalBatch) {
            return (step - startStep) * (double) globalBatch / ((System.nanoTime() - startNanos) / 1e9);
        }

        /** Bytes pushed and pulled per step, the push/pull share of a step, and the time of a step. */
        Map<String, Object> costs(long step, DataParallelWorker worker) {
            long steps = step - startStep;
            DataParallelWorker.Timing t = worker.timing().since(timing);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("bytes_pushed_per_step", steps == 0 ? 0 : (worker.bytesPushed() - pushed) / steps);
            m.put("bytes_pulled_per_step", steps == 0 ? 0 : (worker.bytesPulled() - pulled) / steps);
            m.put("push_pull_share", t.totalNanos() == 0 ? 0 : (double) t.exchangeNanos() / t.totalNanos());
            m.put("step_ms", steps == 0 ? 0 : t.totalNanos() / 1e6 / steps);
            m.put("compute_sd_ms", t.computeSdMs(steps)); // how much one step's compute varies: what synchronous workers wait for
            if (waits != null && waits.rounds() > waitRounds) { // this task's own shard: how long a key's round waited for the last push
                m.put("server_wait_ms", (waits.nanos() - waitNanos) / 1e6 / (waits.rounds() - waitRounds));
            }
            return m;
        }
    }
}
