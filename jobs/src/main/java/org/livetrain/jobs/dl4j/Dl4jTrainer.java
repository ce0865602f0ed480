package org.livetrain.jobs.dl4j;

import org.livetrain.metrics.Readings;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.livetrain.data.Split;
import org.livetrain.jobs.training.DataRdds;
import org.livetrain.jobs.training.SparkNetwork;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.Trainer;
import org.livetrain.jobs.training.TrainingRun;
import org.livetrain.model.Network;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.dataset.DataSet;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * dl4j-spark's own trainers, the peers: its network wrapper ({@link SparkNetwork}) over {@code --workers}
 * partitions with either master.
 * <ul>
 * <li>{@code averaging}: {@link ParameterAveragingTrainingMaster}. Each worker fits
 * {@code --averaging-frequency} mini-batches of {@code --batch} examples, then the driver averages the
 * parameters.</li>
 * <li>{@code shared}: DL4J's gradient sharing ({@link SharedMaster}). Each worker fits mini-batches of
 * {@code --batch} examples and exchanges threshold-encoded updates with the others after every one.</li>
 * </ul>
 * Dev evaluation and a checkpoint after every epoch. A resumed run continues with the epoch after its
 * latest checkpoint, from its parameters and updater state.
 */
public final class Dl4jTrainer implements Trainer {
    private final boolean shared;

    /** @param shared gradient sharing; else parameter averaging */
    public Dl4jTrainer(boolean shared) {
        this.shared = shared;
    }

    /** On a cluster, gradient sharing needs the executors' network named: refused at once without it. */
    @Override
    public void check(JavaSparkContext jsc, TrainConfig config) {
        if (shared && !jsc.isLocal()) SharedMaster.networkMask(jsc);
    }

    @Override
    public void train(TrainingRun run) {
        try {
            new Epochs(run, shared).train();
        } finally {
            if (shared) SharedMaster.shutdown();
        }
    }

    /** The driver's side of a run: an epoch at a time, then dev evaluation and a checkpoint. */
    private static final class Epochs {
        private final TrainingRun ctx;
        private final boolean shared;

        Epochs(TrainingRun ctx, boolean shared) {
            this.ctx = ctx;
            this.shared = shared;
        }

        void train() {
            trainEpochs();
        }

        private void trainEpochs() {
            TrainConfig c = ctx.config();
            Optional<Pointer> from = ctx.resumeFrom();
            Network start = restoreOrCreate(from);
            SparkNetwork sparkNet = shared ? null : new SparkNetwork(ctx.jsc(), start, averagingMaster(c));
            JavaRDD<DataSet> dev = evalBatches(ctx.split().dev());
            // DL4J's gradient sharing reports no training loss (its workers' scores stay on the executors):
            // the shared trainer's is the loss on as many training examples as the dev split has
            JavaRDD<DataSet> trainSample = shared ? evalBatches(Arrays.copyOf(ctx.split().train(), ctx.split().dev().length)) : null;
            long step = from.map(Pointer::step).orElse(0L);
            double trainSeconds = 0;
            for (int epoch = from.map(p -> p.epoch() + 1).orElse(1); epoch <= c.epochs(); epoch++) {
                // a fresh gradient-sharing master for every epoch: with one master, DL4J's third fit hangs (SharedDeadlockWatch)
                if (shared) sparkNet = new SparkNetwork(ctx.jsc(), sparkNet == null ? start : sparkNet.network(), SharedMaster.create(ctx.jsc(), c));
                ctx.jsc().setJobGroup("livetrain-run-" + ctx.run().id(), "LiveTrain run " + ctx.run().id(), true);
                ctx.jsc().setJobDescription(String.format(Locale.ROOT, "LiveTrain run %s: %s, %d workers, epoch %d/%d",
                        ctx.run().id(), c.trainer().id(), c.workers(), epoch, c.epochs()));
                Readings.Driver.EPOCH.set(epoch);
                Epoch e = shared ? trainSharedEpoch(sparkNet, epoch) : trainEpoch(sparkNet, epoch);
                step += e.steps();
                trainSeconds += e.seconds();
                evaluateAndPublish(sparkNet, dev, trainSample, epoch, step, e, trainSeconds);
            }
            dev.unpersist(false);
            if (trainSample != null) trainSample.unpersist(false);
        }

        /** What one epoch took: its steps (mini-batches per worker), examples and seconds. */
        private record Epoch(long steps, int examples, double seconds) {
        }

        /** A resumed run continues from its latest checkpoint, with its parameters and updater state. */
        private Network restoreOrCreate(Optional<Pointer> from) {
            TrainConfig c = ctx.config();
            return from.isPresent() ? ctx.store().load(from.get(), true).network()
                    : ctx.model().create(ctx.data().shape(), ctx.data().numClasses(), c.learningRate(), c.seed());
        }

        private static ParameterAveragingTrainingMaster averagingMaster(TrainConfig c) {
            return new OwnedParameterAveragingMaster(new ParameterAveragingTrainingMaster.Builder(c.workers(), c.batch())
                    .batchSizePerWorker(c.batch())
                    .averagingFrequency(c.averagingFrequency())
                    .workerPrefetchNumBatches(0)
                    .rddTrainingApproach(RDDTrainingApproach.Direct)
                    .repartionData(Repartition.Never)
                    .storageLevel(StorageLevel.MEMORY_ONLY())
                    .collectTrainingStats(false)
                    .rngSeed(c.seed())
                    .saveUpdater(true));
        }

        /** An epoch of gradient sharing, under {@link SharedDeadlockWatch}: DL4J's known hang ends the run instead of stalling it. */
        private Epoch trainSharedEpoch(SparkNetwork sparkNet, int epoch) {
            try (SharedDeadlockWatch watch = new SharedDeadlockWatch(ctx.jsc())) {
                try {
                    Epoch e = trainEpoch(sparkNet, epoch);
                    SharedMaster.shutdown(); // the next epoch's master starts its own
                    return e;
                } catch (Throwable e) { // Spark's job cancellation is a checked SparkException thrown from Scala
                    if (!watch.fired()) throw e;
                    throw new IllegalStateException("--trainer shared: DL4J's gradient sharing hung at the start of epoch " + epoch
                            + " (two of its ParallelWrapper trainer threads wait for each other; DL4J 1.0.0-M2) and was stopped;"
                            + " `train --resume` continues the run from its last checkpoint", e);
                }
            }
        }

        private Epoch trainEpoch(SparkNetwork sparkNet, int epoch) {
            TrainConfig c = ctx.config();
            int[][] shards = Split.shards(ctx.split().train(), c.workers(), c.seed(), epoch);
            JavaRDD<DataSet> train = DataRdds.batches(ctx.jsc(), ctx.data().pool(), shards, c.batch(), ctx.data().numClasses(), c.seed() + epoch)
                    .persist(StorageLevel.MEMORY_ONLY());
            long t0 = System.nanoTime();
            sparkNet.fit(train);
            double seconds = (System.nanoTime() - t0) / 1e9;
            train.unpersist(false);
            return new Epoch((shards[0].length + c.batch() - 1) / c.batch(), shards.length * shards[0].length, seconds);
        }

        private JavaRDD<DataSet> evalBatches(int[] examples) {
            return DataRdds.batches(ctx.jsc(), ctx.data().pool(), Split.slices(examples, ctx.config().workers()),
                    SparkNetwork.EVAL_BATCH, ctx.data().numClasses(), null).persist(StorageLevel.MEMORY_ONLY());
        }

        private void evaluateAndPublish(SparkNetwork sparkNet, JavaRDD<DataSet> dev, JavaRDD<DataSet> trainSample, int epoch, long step, Epoch e, double trainSeconds) {
            TrainConfig c = ctx.config();
            // a clone for each pass: every pass broadcasts the parameters, and Spark closes a broadcast value
            // when it cleans the broadcast up, under any later pass still using them (see OwnedParameterAveragingMaster)
            Network net = sparkNet.network();
            double trainLoss = trainSample == null ? sparkNet.score() : SparkNetwork.evaluator(ctx.jsc(), net.copy()).loss(trainSample);
            Evaluation ev = SparkNetwork.evaluator(ctx.jsc(), net.copy()).evaluate(dev);
            double devLoss = SparkNetwork.evaluator(ctx.jsc(), net.copy()).loss(dev);
            Map<String, Object> stats = new LinkedHashMap<>();
            if (!shared) stats.put("averaging_frequency", c.averagingFrequency());
            stats.put("batch_per_worker", c.batch());
            stats.put("learning_rate", c.learningRate());
            stats.put("train_seconds", trainSeconds);
            CheckpointMeta meta = CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, epoch, ev.accuracy(), devLoss, trainLoss),
                    new CheckpointMeta.Origin(c.trainer().id(), c.workers(), c.data().spec(), ctx.model().name(), null),
                    new CheckpointMeta.Timing(ctx.elapsedSeconds(), e.examples() / e.seconds()), stats);
            RunStore.Published pub = ctx.run().publish(sparkNet.network(), ctx.data().contract(), meta);
            boolean ours = pub.best().run() == null || pub.best().run().equals(ctx.run().id());
            ctx.progress().evaluation(meta, c.epochs(), pub.best().devAccuracy(), ours ? "step " + pub.best().step() : pub.best().describe(), pub.newBest());
        }
    }
}
