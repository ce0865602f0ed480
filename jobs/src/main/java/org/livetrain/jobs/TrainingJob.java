package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.data.Split;
import org.livetrain.model.Models;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.dataset.DataSet;

import java.util.function.Consumer;
import java.util.List;
import java.util.Locale;

/**
 * The training job of {@code submit.sh train}: checks its inputs before it writes anything, opens the data
 * and the checkpoint store, runs the chosen trainer, and finally reports the test accuracy of the best
 * checkpoint.
 */
public final class TrainingJob {
    public static final List<String> TRAINERS = List.of("byteps", "averaging");
    static final int EVAL_BATCH = 256;

    /** What a finished run produced. */
    public record Result(Pointer best, double testAccuracy, int testExamples, String checkpointDir) {
    }

    /** What every trainer is handed. */
    public record Context(TrainConfig config, SparkSession spark, JavaSparkContext jsc, Dataset data, Split split,
                   CheckpointStore store, Models.Kind model, Progress progress, boolean resume) {
    }

    private TrainingJob() {
    }

    public static void validate(TrainConfig c) {
        if (c.workers() < 1) throw new LiveTrainException("--workers " + c.workers() + ": must be at least 1");
        if (c.epochs() < 1) throw new LiveTrainException("--epochs " + c.epochs() + ": must be at least 1");
        if (c.batch() < 1) throw new LiveTrainException("--batch " + c.batch() + ": must be at least 1");
        if (!(c.learningRate() > 0) || Double.isInfinite(c.learningRate())) throw new LiveTrainException("--learning-rate " + c.learningRate() + ": must be a positive number");
        if (c.averagingFrequency() < 1) throw new LiveTrainException("--averaging-frequency " + c.averagingFrequency() + ": must be at least 1");
        if (c.evalEvery() < 1) throw new LiveTrainException("--eval-every " + c.evalEvery() + ": must be at least 1 step");
        if (c.servers() < 0) throw new LiveTrainException("--servers " + c.servers() + ": must be 0 (colocated with the workers) or more");
        if (c.partitionBytes() < 4 || c.partitionBytes() > (64 << 20)) throw new LiveTrainException("--partition-bytes " + c.partitionBytes() + ": must be between 4 and 67108864");
        if (!List.of("none", "fp16").contains(c.compress())) throw new LiveTrainException("--compress " + c.compress() + ": use none or fp16");
        if (c.keep() < 1) throw new LiveTrainException("--keep " + c.keep() + ": must keep at least one checkpoint besides the best");
        if (!TRAINERS.contains(c.trainer())) throw new LiveTrainException("--trainer " + c.trainer() + ": unknown trainer (use " + String.join(" or ", TRAINERS) + ")");
        Models.Kind.parse(c.model());
    }

    public static Result run(TrainConfig config, Consumer<String> out) {
        return train(prepare(config, out, false));
    }

    public static Result run(TrainConfig config, Consumer<String> out, boolean resume) {
        return train(prepare(config, new Progress(out), resume));
    }

    public static Result run(TrainConfig config, Progress progress, boolean resume) {
        return train(prepare(config, progress, resume));
    }

    /**
     * Everything that can fail because of the user's input, before any training: options, Spark session,
     * data, checkpoint directory. On failure nothing is left running and nothing half-written.
     */
    public static Context prepare(TrainConfig config, Consumer<String> out) {
        return prepare(config, out, false);
    }

    public static Context prepare(TrainConfig config, Consumer<String> out, boolean resume) {
        return prepare(config, new Progress(out), resume);
    }

    public static Context prepare(TrainConfig config, Progress progress, boolean resume) {
        validate(config);
        Models.Kind kind = Models.Kind.parse(config.model());
        // a barrier stage needs a slot for every task at once: workers plus dedicated servers
        SparkSession spark = SparkSessions.create("LiveTrain train", config.workers() + config.servers(), config.conf());
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            Configuration hconf = spark.sparkContext().hadoopConfiguration();
            Dataset data = Dataset.open(config.data(), hconf);
            Split split = data.split(config.seed());
            if (split.train().length < config.workers()) {
                throw new LiveTrainException("--workers " + config.workers() + ": more workers than training examples (" + split.train().length + ")");
            }
            CheckpointStore store = CheckpointStore.create(config.checkpointDir(), hconf, config.keep());
            if (config.async() && !config.trainer().equals("byteps")) throw new LiveTrainException("--async: only the byteps trainer runs asynchronously");
            if (config.augment() && !config.trainer().equals("byteps")) throw new LiveTrainException("--augment: only the byteps trainer augments");
            if (resume && !config.trainer().equals("byteps")) throw new LiveTrainException("--resume: only the byteps trainer resumes");
            return new Context(config, spark, jsc, data, split, store, kind, progress, resume);
        } catch (RuntimeException e) {
            spark.stop();
            throw e;
        }
    }

    /** Trains, then scores the best checkpoint on the test split; stops Spark at the end. */
    public static Result train(Context ctx) {
        try {
            TrainConfig config = ctx.config();
            Progress progress = ctx.progress();
            progress.line("data %s: %s images, %d classes; %d train / %d dev / %d test", ctx.data().spec(), ctx.data().shape(), ctx.data().numClasses(),
                    ctx.split().train().length, ctx.split().dev().length, ctx.split().test().length);
            progress.line("training %s with the %s trainer on %d workers (%s), %d epoch(s) of batch %d per worker; checkpoints in %s",
                    ctx.model().name().toLowerCase(Locale.ROOT), config.trainer(), config.workers(), ctx.spark().sparkContext().master(), config.epochs(),
                    config.batch(), ctx.store().root());
            if (config.trainer().equals("byteps")) new BytePSTrainer(ctx).train();
            else new AveragingTrainer(ctx).train();
            return testBest(ctx);
        } finally {
            ctx.spark().stop();
        }
    }

    /** Loads the best checkpoint (checksum verified) and scores it on the test split, on the executors. */
    static Result testBest(Context ctx) {
        Pointer best = ctx.store().best().orElseThrow(() -> new LiveTrainException(ctx.store().location() + ": no best checkpoint was published"));
        Checkpoint cp = ctx.store().load(best, false);
        int[][] parts = Split.slices(ctx.split().test(), ctx.config().workers());
        JavaRDD<DataSet> test = DataRdds.batches(ctx.jsc(), ctx.data().testSource(), parts, EVAL_BATCH, ctx.data().numClasses(), null);
        Evaluation ev = evaluator(ctx, cp.network()).evaluate(test);
        int n = ctx.split().test().length;
        ctx.progress().line("best checkpoint: step %d (epoch %d), dev accuracy %.4f; test accuracy %.4f on %d examples",
                best.step(), best.epoch(), best.devAccuracy(), ev.accuracy(), n);
        return new Result(best, ev.accuracy(), n, ctx.store().location());
    }

    /** Scores a network on RDDs of mini-batches (evaluation is spread over the executors). */
    static SparkDl4jMultiLayer evaluator(Context ctx, MultiLayerNetwork net) {
        ParameterAveragingTrainingMaster tm = new ParameterAveragingTrainingMaster.Builder(EVAL_BATCH)
                .batchSizePerWorker(EVAL_BATCH).build();
        return new SparkDl4jMultiLayer(ctx.jsc(), net, tm);
    }
}
