package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.util.ShutdownHookManager;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.data.Manifest;
import org.livetrain.data.Split;
import org.livetrain.io.Storage;
import org.livetrain.jobs.byteps.BytePSTrainer;
import org.livetrain.jobs.dl4j.Dl4jTrainer;
import org.livetrain.jobs.training.DataCheck;
import org.livetrain.jobs.training.DataRdds;
import org.livetrain.jobs.training.Progress;
import org.livetrain.jobs.training.SparkNetwork;
import org.livetrain.jobs.training.TaskFailures;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.Trainer;
import org.livetrain.jobs.training.TrainerKind;
import org.livetrain.jobs.training.TrainingRun;
import org.livetrain.model.ModelSpec;
import org.livetrain.model.NativeKernels;
import org.livetrain.model.NativeMemory;
import org.livetrain.model.Models;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunInfo;
import org.livetrain.store.RunLock;
import org.livetrain.store.RunStore;
import org.livetrain.metrics.Readings;
import org.livetrain.spark.SparkSessions;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.dataset.DataSet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;

import static org.livetrain.LiveTrainException.about;

/**
 * The training job of {@code submit.sh train}: checks its inputs before it writes anything, takes the
 * checkpoint directory's lock, starts or resumes a run, runs the chosen trainer, and finally reports the
 * test accuracy of the run's best checkpoint and records how the run ended in its {@code run.json}.
 */
public final class TrainingJob {
    /** Above Spark's own shutdown hook (40) and the file systems' (10): the run's end is written while both still work. */
    private static final int SHUTDOWN_PRIORITY = FileSystem.SHUTDOWN_HOOK_PRIORITY + 40;

    /** What a finished run produced. */
    public record Result(String run, Pointer best, double testAccuracy, int testExamples, String checkpointDir) {
    }

    /**
     * Which run: a new one ({@code resume} null; named {@code runName}, or by the time), or the resumption of
     * the newest ({@code resume} empty) or a named run. {@code fresh} first moves the directory's earlier runs
     * aside ({@code delete}: deletes them). {@code explicit}: the options given on the command line, which a
     * resumption may apply over the run's own settings.
     */
    public record RunRequest(String resume, String runName, boolean fresh, boolean delete, Set<String> explicit) {
        public static final RunRequest NEW = new RunRequest(null, null, false, false, Set.of());

        boolean resuming() {
            return resume != null;
        }
    }

    /** The trainer of each kind: the one place a --trainer name becomes code. */
    static Trainer trainer(TrainerKind kind) {
        return switch (kind) {
            case BYTEPS -> new BytePSTrainer();
            case AVERAGING -> new Dl4jTrainer(false);
            case SHARED -> new Dl4jTrainer(true);
        };
    }

    private TrainingJob() {
    }

    public static void validate(TrainConfig c) {
        if (c.workers() < 1) throw new LiveTrainException("--workers " + c.workers() + ": must be at least 1");
        if (c.epochs() < 1) throw new LiveTrainException("--epochs " + c.epochs() + ": must be at least 1");
        if (c.batch() < 1) throw new LiveTrainException("--batch " + c.batch() + ": must be at least 1");
        if (!(c.learningRate() > 0) || Double.isInfinite(c.learningRate())) throw new LiveTrainException("--learning-rate " + c.learningRate() + ": must be a positive number");
        if (c.averagingFrequency() < 1) throw new LiveTrainException("--averaging-frequency " + c.averagingFrequency() + ": must be at least 1");
        if (c.keep() < 1) throw new LiveTrainException("--keep " + c.keep() + ": must keep at least one checkpoint besides the best");
        double limit = c.data().badDataLimit();
        if (!(limit >= 0 && limit <= 1)) throw new LiveTrainException("--bad-data-limit " + limit + ": must be a fraction between 0 and 1");
        int channels = c.data().channels();
        if (channels != 0 && channels != 1 && channels != 3) throw new LiveTrainException("--channels " + channels + ": use 1 (grey) or 3 (colour)");
        if (c.model().configFile() == null) about("--model", () -> Models.Kind.parse(c.model().name()));
        about("--input-profile", () -> c.data().profile());
        c.byteps().validate(c.trainer());
    }

    public static void validate(RunRequest r) {
        if (r.resuming() && r.fresh()) throw new LiveTrainException("--fresh: cannot start over and --resume at once");
        if (r.resuming() && r.runName() != null) throw new LiveTrainException("--run-name: names a new run; --resume " + r.runName() + " continues one");
        if (r.delete() && !r.fresh()) throw new LiveTrainException("--delete: only with --fresh (deletes the earlier runs instead of moving them aside)");
        if (r.runName() != null && !CheckpointStore.RUN_NAME.matcher(r.runName()).matches()) {
            throw new LiveTrainException("--run-name " + r.runName() + ": use letters, digits, '.', '_' and '-' (at most 64, first a letter or digit)");
        }
    }

    public static Result run(TrainConfig config, RunRequest request, Progress progress) {
        return train(prepare(config, request, progress));
    }

    /**
     * Everything that can fail because of the user's input, before any training: options, Spark session,
     * data, the checkpoint directory and its lock, the run to start or resume. On failure nothing is left
     * running and nothing half-written.
     */
    public static TrainingRun prepare(TrainConfig given, RunRequest request, Progress progress) {
        validate(given);
        validate(request);
        if (request.explicit().contains("averaging-frequency") && given.trainer() != TrainerKind.AVERAGING) {
            throw new LiveTrainException("--averaging-frequency: only the averaging trainer averages (this run's trainer is " + given.trainer() + ")");
        }
        Trainer trainer = trainer(given.trainer());
        NativeKernels.enable(); // before the driver builds a network, also when no LiveTrain main or plugin ran
        NativeMemory.guard();
        // a session of the caller's (spark-shell, a Spark ML fit) is used as it is, and left running at the end
        Optional<SparkSession> theirs = SparkSessions.existing();
        SparkSession spark = theirs.orElseGet(() -> SparkSessions.create("LiveTrain train", trainer.slots(given), given.conf()));
        RunLock lock = null;
        try {
            trainer.check(JavaSparkContext.fromSparkContext(spark.sparkContext()), given);
            Configuration hconf = spark.sparkContext().hadoopConfiguration();
            Runs.Resumption resumption = request.resuming()
                    ? Runs.findResumption(about("--checkpoint-dir", () -> new CheckpointLocation(given.checkpointDir(), hconf).open()), request, given) : null;
            TrainConfig config = resumption == null ? given : resumption.config();
            validate(config);
            TrainConfig.Data d = config.data();
            Dataset listed = about("--data", () -> Dataset.open(d.spec(), d.columns(), hconf));
            Dataset opened = resumption == null ? listed : resumption.frozen(listed, progress);
            String asked = d.channels() != 0 ? "--channels " + d.channels() + ":" : "--input-profile " + d.inputProfile() + ":";
            Dataset prepared = about(asked, () -> opened.prepared(d.profile(), d.channels()));
            DataCheck check = DataCheck.run(JavaSparkContext.fromSparkContext(spark.sparkContext()), prepared, trainer.shards(config, prepared.split(config.seed())),
                    trainer.slots(config), d.badDataLimit(), progress);
            Dataset data = check.data();
            Split split = data.split(config.seed());
            if (split.train().length < config.workers()) {
                throw new LiveTrainException("--workers " + config.workers() + ": more workers than training examples (" + split.train().length + ")");
            }
            ModelSpec model = modelSpec(config, request, data, hconf);
            CheckpointStore store = about("--checkpoint-dir", () -> new CheckpointLocation(config.checkpointDir(), hconf).create());
            lock = about("--checkpoint-dir", () -> RunLock.acquire(store, progress::line));
            lock.onLost(() -> spark.sparkContext().cancelAllJobs()); // another run took the directory over: stop writing
            TrainingRun.Inputs inputs = new TrainingRun.Inputs(data, split, model, check, Manifest.of(opened));
            Runs.Started started = Runs.start(store, lock, request, resumption, config, inputs, progress);
            TrainingRun.Start start = new TrainingRun.Start(started.from(), started.from().map(p -> store.meta(p).elapsedSeconds()).orElse(0.0));
            return new TrainingRun(config, spark, theirs.isEmpty(), inputs, started.run(), lock, progress, start,
                    new TaskFailures(spark.sparkContext()));
        } catch (RuntimeException e) {
            if (lock != null) lock.close();
            if (theirs.isEmpty()) spark.stop();
            throw e;
        }
    }

    /**
     * The network to train: {@code --model-config}'s JSON (read once, here), else the built-in {@code --model};
     * refused before any Spark work when it does not fit the data.
     */
    static ModelSpec modelSpec(TrainConfig c, RunRequest request, Dataset data, Configuration hconf) {
        ModelSpec spec;
        TrainConfig.Model m = c.model();
        if (m.freeze() != 0 && m.initFrom() == null) throw new LiveTrainException("--freeze " + m.freeze() + ": only with --init-from (it freezes layers of a saved model)");
        if (m.initFrom() != null) {
            if (request.explicit().contains("model")) throw new LiveTrainException("--model: give either --model or --init-from, not both");
            if (m.configFile() != null) throw new LiveTrainException("--model-config: give either --model-config or --init-from, not both");
            spec = ModelSpec.initFrom(m.initFrom(), read("--init-from", m.initFrom(), hconf), data.numClasses(), c.learningRate(), c.seed(), m.freeze());
        } else if (m.configFile() == null) {
            spec = ModelSpec.builtIn(m.name());
        } else {
            if (request.explicit().contains("model")) throw new LiveTrainException("--model: give either --model or --model-config, not both");
            if (request.explicit().contains("learning-rate")) {
                throw new LiveTrainException("--learning-rate: does not apply to --model-config (the configuration names its own updater and learning rate)");
            }
            spec = ModelSpec.config(m.configFile(), new String(read("--model-config", m.configFile(), hconf), StandardCharsets.UTF_8));
        }
        spec.check(spec.create(data.shape(), data.numClasses(), c.learningRate(), c.seed()), data.shape(), data.numClasses());
        return spec;
    }

    private static byte[] read(String option, String location, Configuration hconf) {
        try {
            return Storage.readAll(location, hconf, Storage.MAX_MODEL);
        } catch (IOException e) {
            throw Storage.problem(option + " " + location + ": cannot read it", e);
        }
    }

    /** Trains, then scores the run's best checkpoint on the test split; records the run's end; stops Spark when the job started it. */
    public static Result train(TrainingRun ctx) {
        RunStore run = ctx.run();
        Runnable interrupted = () -> {
            endRun(ctx, RunInfo.INTERRUPTED, null, "stopped by a signal");
            ctx.lock().close();
        };
        ShutdownHookManager.get().addShutdownHook(interrupted, SHUTDOWN_PRIORITY);
        try {
            TrainConfig config = ctx.config();
            Progress progress = ctx.progress();
            progress.line("data %s: %s images, %d classes; %d train / %d dev / %d test, split %s; input %s", ctx.data().spec(), ctx.data().shape(),
                    ctx.data().numClasses(), ctx.split().train().length, ctx.split().dev().length, ctx.split().test().length, ctx.split().rule(),
                    ctx.data().contract().describe());
            progress.line("training %s with the %s trainer on %d workers (%s), %d epoch(s) of batch %d per worker; checkpoints in %s",
                    ctx.model().name(), config.trainer(), config.workers(), ctx.spark().sparkContext().master(), config.epochs(),
                    config.batch(), run.base());
            Readings.Driver.newRun();
            run.info().ifPresent(i -> Readings.Driver.RUN_NUMBER.set(i.number()));
            SparkSessions.metricsUrl(ctx.spark()).ifPresent(url -> progress.line("metrics (Prometheus): %s; Spark UI: %s", url, ctx.spark().sparkContext().uiWebUrl().get()));
            try {
                trainer(config.trainer()).train(ctx);
            } catch (Throwable e) {
                // a job cancelled because a task met an error no retry can fix: that error is the one to report
                Optional<LiveTrainException> fatal = LiveTrainException.in(e).isPresent() ? Optional.empty() : ctx.failures().afterFailedJob();
                if (fatal.isPresent()) throw fatal.get();
                if (!ctx.lock().held()) throw ctx.lock().lost();
                throw e;
            }
            Result r = testBest(ctx);
            endRun(ctx, RunInfo.FINISHED, r, null);
            return r;
        } catch (Throwable e) {
            endRun(ctx, RunInfo.FAILED, null, LiveTrainException.in(e).map(Throwable::getMessage).orElse(String.valueOf(e)));
            throw e;
        } finally {
            // during shutdown (Ctrl-C) the hook runs by itself, and removing it would throw over the real error
            if (!ShutdownHookManager.get().isShutdownInProgress()) ShutdownHookManager.get().removeShutdownHook(interrupted);
            ctx.lock().close();
            if (ctx.ownsSpark()) ctx.spark().stop();
        }
    }

    /** A prepared run that will not train after all (its prompt could not open): recorded as failed, lock released, its Spark stopped. */
    public static void abandon(TrainingRun ctx, String why) {
        try {
            endRun(ctx, RunInfo.FAILED, null, why);
        } finally {
            ctx.lock().close();
            if (ctx.ownsSpark()) ctx.spark().stop();
        }
    }

    /** Records in run.json how the run ended (once: the first caller wins), while this process still holds the lock. */
    private static synchronized void endRun(TrainingRun ctx, String state, Result result, String error) {
        if (!ctx.lock().held()) return;
        RunInfo info = ctx.run().info().orElse(null);
        if (info == null || !RunInfo.RUNNING.equals(info.state())) return;
        try {
            String now = Instant.now().toString();
            ctx.run().writeInfo(info.ended(state, now, ctx.elapsedSeconds(), result == null ? null : result.testAccuracy(),
                    result == null ? null : result.testExamples(), error));
            ctx.run().progress().ifPresent(p -> ctx.run().writeProgress(p.ended(state, now))); // bars and status see the end
        } catch (RuntimeException e) {
            ctx.progress().line("warning: the end of run %s was not recorded (%s)", ctx.run().id(), e.getMessage());
        }
    }

    /** Loads the run's best checkpoint (checksum verified) and scores it on the test split, on the executors. */
    static Result testBest(TrainingRun ctx) {
        Pointer best = ctx.run().best().orElseThrow(() -> new LiveTrainException(ctx.run().base() + ": no best checkpoint was published"));
        Checkpoint cp = ctx.store().load(best, false);
        int[][] parts = Split.slices(ctx.split().test(), ctx.config().workers());
        JavaRDD<DataSet> test = DataRdds.batches(ctx.jsc(), ctx.data().testSource(), parts, SparkNetwork.EVAL_BATCH, ctx.data().numClasses(), null);
        Evaluation ev = SparkNetwork.evaluator(ctx.jsc(), cp.network()).evaluate(test);
        int n = ctx.split().test().length;
        ctx.progress().line("best checkpoint of run %s: step %d (epoch %d), dev accuracy %.4f; test accuracy %.4f on %d examples",
                ctx.run().id(), best.step(), best.epoch(), best.devAccuracy(), ev.accuracy(), n);
        return new Result(ctx.run().id(), best, ev.accuracy(), n, ctx.store().location());
    }
}
