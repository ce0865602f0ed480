package org.livetrain.jobs.byteps;

import org.livetrain.metrics.Readings;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.util.LongAccumulator;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.data.Pool;
import org.livetrain.data.Split;
import org.livetrain.io.Storage;
import org.livetrain.jobs.training.DataCheck;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.Trainer;
import org.livetrain.jobs.training.TrainingRun;
import org.livetrain.model.ModelSpec;
import org.livetrain.ps.Compression;
import org.livetrain.ps.KeySpace;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag$;

import java.io.Serializable;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

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
public final class BytePSTrainer implements Trainer {
    private static final Logger LOG = LoggerFactory.getLogger(BytePSTrainer.class);
    /** How long any wait of the summation service lasts at most: a round, a connection, a local group. */
    public static final Duration TIMEOUT = Duration.ofSeconds(120);
    /** Worker tasks of one executor JVM sum their gradients in memory and one of them talks to the servers (synchronous mode). */
    static final String LOCAL_REDUCTION = "spark.livetrain.localReduction";

    /** What every task is handed (serialised into the stage's closure): the run's settings, what it trains, how, its hooks, and which attempt. */
    record Plan(TrainConfig config, Broadcast<Inputs> shared, Job job, Hooks hooks, int attempt) implements Serializable {
        /** What is trained: the data, the example indices of the train and dev splits, the network and its parameter count. */
        record Inputs(Dataset data, int[] train, int[] dev, ModelSpec model, long params) implements Serializable {
        }

        /**
         * How the job runs: its checkpoint directory, the summation service's security, whether a JVM's workers
         * reduce locally, the run's id, when its training time started, steps per epoch, the examples each worker
         * trains on in an epoch (the same for all: DL4J's updater divides by the batch size), whether the run was
         * resumed, whether each worker's shard arrives from the data check's first pass (else it reads it), and
         * the named accumulators the workers count their steps in and worker 0 its epochs (the stage page of Spark's
         * UI shows them live).
         */
        record Job(CheckpointLocation checkpoints, SummationSecurity security, boolean localReduction, String run, long startedMillis, int stepsPerEpoch,
                   int examplesPerEpoch, boolean resume, boolean firstPass, LongAccumulator workerSteps, LongAccumulator epochs) implements Serializable {
        }

        Plan attempt(int n) {
            return new Plan(config, shared, job, hooks, n);
        }

        /** The data and its index arrays reach each executor once, as a broadcast, not in every task's closure. */
        Inputs inputs() {
            return shared.value();
        }

        Dataset data() {
            return inputs().data();
        }

        ModelSpec model() {
            return inputs().model();
        }

        SummationSecurity security() {
            return job.security();
        }

        int stepsPerEpoch() {
            return job.stepsPerEpoch();
        }

        /** The keys a shard accepts, each with its length. */
        KeySpace keySpace() {
            return DataParallelWorker.keySpace(inputs().params(), config.byteps().partitionBytes(), config.workers(), config.byteps().async());
        }

        /** The run's checkpoints, as worker 0 writes them and every worker resumes from them. */
        RunStore store() {
            return job.checkpoints().open().run(job.run(), config.keep());
        }

        int tasks() {
            return config.byteps().tasks(config.workers());
        }

        /** Where a task sits, from the executor ids all tasks said. */
        Placement placement(String[] executors, int task) {
            return Placement.of(executors, config.workers(), task, job.localReduction());
        }

        boolean hostsServer(int task) {
            return config.byteps().servers() == 0 || task >= config.workers();
        }
    }

    /** A barrier stage needs a slot for every task at once: the workers and the dedicated servers. */
    @Override
    public int slots(TrainConfig config) {
        return config.byteps().tasks(config.workers());
    }

    /** Each worker keeps a fixed shard for the whole run; dedicated server tasks keep none. */
    @Override
    public int[][] shards(TrainConfig config, Split split) {
        int[][] shards = Arrays.copyOf(Split.fixedShards(split.train(), config.workers(), config.seed()), config.byteps().tasks(config.workers()));
        Arrays.fill(shards, config.workers(), shards.length, new int[0]);
        return shards;
    }

    @Override
    public void train(TrainingRun run) {
        new Attempts(run).train();
    }

    /** The driver's side of a run: its plan, and the attempts of its barrier stage. */
    private static final class Attempts {
        private final TrainingRun ctx;

        Attempts(TrainingRun ctx) {
            this.ctx = ctx;
        }

        void train() {
            TrainConfig c = ctx.config();
            TrainConfig.BytePS b = c.byteps();
            int stepsPerEpoch = ctx.inputs().stepsPerEpoch(c);
            Optional<DataCheck.FirstPass> firstPass = ctx.inputs().check().firstPass();
            // elapsed_seconds counts the run's training time: a resumed run goes on from where it stopped
            long startedMillis = System.currentTimeMillis() - Math.round(ctx.elapsedSeconds() * 1000);
            var conf = ctx.spark().sparkContext().getConf();
            Plan.Inputs inputs = new Plan.Inputs(ctx.data(), ctx.split().train(), ctx.split().dev(), ctx.model(),
                    ctx.model().create(ctx.data().shape(), ctx.data().numClasses(), c.learningRate(), c.seed()).numParams());
            Plan.Job job = new Plan.Job(ctx.store().asLocation(), SummationSecurity.from(conf),
                    conf.getBoolean(LOCAL_REDUCTION, true) && !b.async(), ctx.run().id(), startedMillis, stepsPerEpoch,
                    firstPass.map(DataCheck.FirstPass::smallest).orElse(ctx.split().train().length / c.workers()), ctx.resumeFrom().isPresent(),
                    firstPass.isPresent(), ctx.spark().sparkContext().longAccumulator("livetrain worker steps"),
                    ctx.spark().sparkContext().longAccumulator("livetrain epochs begun"));
            Broadcast<Plan.Inputs> shared = ctx.jsc().broadcast(inputs);
            Plan plan = new Plan(c, shared, job, Hooks.from(c.conf()), 0);
            ctx.progress().line("byteps: %d workers, %s, %d steps per epoch of global batch %d, evaluation every %d steps, partitions of %d bytes%s%s; %s",
                    c.workers(), b.servers() == 0 ? c.workers() + " colocated summation servers" : b.servers() + " dedicated summation server(s)",
                    stepsPerEpoch, c.batch() * c.workers(), b.evalEvery(), b.partitionBytes(), b.compress() == Compression.FP16 ? ", fp16 on the wire" : "",
                    b.async() ? ", asynchronous (servers hold the weights)" : "", plan.security().describe());
            JavaRDD<Pool.Checked> shards = firstPass.map(DataCheck.FirstPass::examples).orElseGet(() -> ctx.jsc().parallelize(List.of(), plan.tasks()));
            try (HistoryWatcher watcher = new HistoryWatcher(ctx)) {
                runAttempts(plan, shards);
            } finally {
                shared.unpersist();
                firstPass.ifPresent(DataCheck.FirstPass::close);
            }
        }

        /**
         * Runs the barrier stage until it trains to the end. A failure a retry may get past starts it again,
         * resuming from the run's latest checkpoint: at once after a first failure, then after a pause that
         * doubles (2 s, 4 s, ... 30 s) while attempts fail without progress; {@code spark.stage.maxConsecutiveAttempts}
         * (default 4) such attempts in a row end the run. Any other failure ends it at once.
         */
        private void runAttempts(Plan plan, JavaRDD<Pool.Checked> shards) {
            int limit = ctx.spark().sparkContext().getConf().getInt("spark.stage.maxConsecutiveAttempts", 4);
            int failed = 0; // consecutive attempts that failed without publishing a later checkpoint
            for (int attempt = 0; ; attempt++) {
                long before = latestStep();
                Readings.Driver.ATTEMPT.set(attempt + 1);
                Optional<String> why = runAttempt(plan.attempt(attempt), shards);
                if (why.isEmpty()) return;
                Readings.Driver.FAILED_ATTEMPTS.add(1);
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
        private Optional<String> runAttempt(Plan plan, JavaRDD<Pool.Checked> shards) {
            ctx.failures().clear();
            try {
                if (shards.getNumPartitions() != plan.tasks()) throw new IllegalStateException(shards.getNumPartitions() + " shards for " + plan.tasks() + " tasks");
                // the stage is one job per attempt: its description cannot follow the epochs (the driver's metrics and
                // the stage's "livetrain worker steps" accumulator do)
                ctx.jsc().setJobGroup("livetrain-run-" + ctx.run().id(), "LiveTrain run " + ctx.run().id(), true);
                ctx.jsc().setJobDescription(String.format(Locale.ROOT, "LiveTrain run %s, attempt %d: byteps, %d workers, %d epochs",
                        ctx.run().id(), plan.attempt() + 1, plan.config().workers(), plan.config().epochs()));
                JavaRDD<String> trained = JavaRDD.fromRDD(shards.rdd().barrier().mapPartitions(new BarrierTask(plan), false, ClassTag$.MODULE$.apply(String.class)),
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
            } finally {
                ctx.jsc().setJobDescription(null);
            }
        }
    }
}
