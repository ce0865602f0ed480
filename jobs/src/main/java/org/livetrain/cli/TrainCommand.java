package org.livetrain.cli;

import org.livetrain.data.ParquetPool;
import org.livetrain.jobs.TrainingJob;
import org.livetrain.jobs.training.Progress;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.TrainerKind;
import org.livetrain.jobs.training.TrainingRun;
import org.livetrain.terminal.TerminalSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/** {@code livetrain train}: the training job, optionally with the live-inference prompt in the same process. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Train the classifier on Spark, evaluate on the dev split, and publish checkpoints (best.json, latest.json).",
                "With --live, answer image paths typed at a prompt from the best model so far while training runs."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--live", description = "Open the live-inference prompt in this process while training runs.")
    boolean live;

    @Option(names = "--resume", arity = "0..1", paramLabel = "RUN", fallbackValue = "",
            description = "Continue the newest run of --checkpoint-dir (or the run named RUN) from its latest checkpoint: parameters, updater state,"
                    + " step, position in the data. The run keeps its settings; --epochs may grow.")
    String resume;

    @Option(names = "--run-name", paramLabel = "NAME", description = "Name of the new run (default: its start time, e.g. 20261128-035711).")
    String runName;

    @Option(names = "--fresh", description = "Start the checkpoint directory over: its earlier runs are moved aside into attic/ (or deleted with --delete).")
    boolean fresh;

    @Option(names = "--delete", description = "With --fresh: delete the earlier runs instead of moving them aside.")
    boolean delete;

    @Option(names = "--data", paramLabel = "SPEC", description = "digits (bundled), fashion (Debian dataset-fashion-mnist), idx:DIR, folder:URI (a folder per class; a local path or any Hadoop URI, e.g. hdfs://nn:8020/images)"
            + " or parquet:URI (a table with content or path, and label columns, as Spark's binaryFile source writes).")
    String data;

    @Option(names = "--input-profile", paramLabel = "NAME", description = "How an image file becomes an input, in training (folder: and parquet: data) and"
            + " serving: digit, object or rgb (default: the data set's own choice, see docs/TRAINING.md, Input contract).")
    String inputProfile;

    @Option(names = "--channels", paramLabel = "1|3", description = "folder: and parquet: data: 1 (grey) or 3 (colour) (default: colour when the images are).")
    int channels;

    @Option(names = "--image-column", paramLabel = "NAME", description = "parquet: data: the column holding each image: its encoded bytes (binary),"
            + " Spark's image struct, or its path (string) (default: content, else image, else path).")
    String imageColumn;

    @Option(names = "--label-column", paramLabel = "NAME", description = "parquet: data: the column holding each image's class, text or integer.")
    String labelColumn = "label";

    @Option(names = "--bad-data-limit", paramLabel = "FRACTION", description = "folder: and parquet: data: the share of images that may be unreadable"
            + " and left out (each named in the log) before the run refuses the data at its start.")
    double badDataLimit;

    @Option(names = "--workers", paramLabel = "N", description = "Worker tasks (Spark partitions).")
    int workers;

    @Option(names = "--epochs", paramLabel = "E", description = "Passes over the training split.")
    int epochs;

    @Option(names = "--batch", paramLabel = "B", description = "Mini-batch size per worker.")
    int batch;

    @Option(names = "--learning-rate", paramLabel = "LR", description = "Adam learning rate.")
    double learningRate;

    @Option(names = "--model", paramLabel = "NAME", description = "lenet, mlp or resnet (a residual network with batch normalisation, a ComputationGraph).")
    String model;

    @Option(names = "--model-config", paramLabel = "FILE", description = "Train this network instead: a DL4J MultiLayerConfiguration or"
            + " ComputationGraphConfiguration as JSON (what toJson() writes), a local path or a Hadoop URI. It brings its own updater and seed.")
    String modelConfig;

    @Option(names = "--init-from", paramLabel = "MODEL", description = "Fine-tune a saved model: a checkpoint's model.zip or any DL4J ModelSerializer"
            + " zip (local path or Hadoop URI). Its output layer is replaced when the data has another number of classes.")
    String initFrom;

    @Option(names = "--freeze", paramLabel = "N", description = "With --init-from: keep the weights of the first N layers fixed.")
    int freeze;

    @Option(names = "--trainer", paramLabel = "NAME", description = "byteps: workers in one barrier stage summing gradients through summation servers;"
            + " averaging: dl4j-spark parameter averaging; shared: DL4J's gradient sharing (SharedTrainingMaster, threshold-encoded updates over Aeron).")
    String trainer;

    @Mixin
    BytePSOptions byteps;

    @Option(names = "--averaging-frequency", paramLabel = "K", description = "averaging: mini-batches each worker fits between two parameter averages.")
    int averagingFrequency;

    @Mixin
    CheckpointDirOption checkpoints;

    @Option(names = "--keep", paramLabel = "K", description = "Checkpoints kept besides the best: the newest K.")
    int keep;

    @Option(names = "--seed", paramLabel = "SEED", description = "Seed of the data split, shuffling and initial weights.")
    long seed;

    @Mixin
    ReaderOptions reader;

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain top;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        common.apply();
        TrainConfig cfg = new TrainConfig(new TrainConfig.Data(data, inputProfile, channels, badDataLimit, new ParquetPool.Columns(imageColumn, labelColumn)), new TrainConfig.Model(model, modelConfig, initFrom, freeze),
                new TrainConfig.Schedule(workers, epochs, batch, learningRate, seed), TrainerKind.parse(trainer),
                byteps.settings(), averagingFrequency, new TrainConfig.Output(checkpoints.uri(), keep), common.conf());
        // the options typed on this command line: a resumed run applies them over its own settings
        Set<String> explicit = spec.commandLine().getParseResult().matchedOptions().stream()
                .map(o -> o.longestName().replaceFirst("^--", "")).collect(Collectors.toSet());
        TrainingJob.RunRequest request = new TrainingJob.RunRequest(resume, runName, fresh, delete, explicit);
        if (!live) {
            // a bar redrawn in place on an interactive terminal, plain lines when the output is a file or a pipe
            boolean terminal = top.out == System.out && ReaderOptions.interactive();
            TrainingJob.run(cfg, request, new Progress(line -> {
                top.out.println(line);
                top.out.flush();
            }, terminal ? top.out : null, true));
            return 0;
        }
        return trainLive(cfg, request);
    }

    /**
     * Training in a background thread, the prompt in the foreground. Input errors are reported before the
     * prompt opens; a failure during training is printed above the prompt, and the reader keeps serving
     * the best model so far.
     */
    private int trainLive(TrainConfig cfg, TrainingJob.RunRequest request) throws Exception {
        long started = System.nanoTime();
        AtomicReference<TerminalSession> session = new AtomicReference<>();
        TrainingRun ctx = TrainingJob.prepare(cfg, request, new Progress(line -> {
            TerminalSession s = session.get();
            if (s != null) s.reader().printAbove(line);
            else top.out.println(line);
        }));
        TrainConfig c = ctx.config(); // a resumed run's own settings
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicBoolean trainingStarted = new AtomicBoolean();
        try (TerminalSession s = new TerminalSession(ctx.store().asLocation(),
                reader.settings(ReaderOptions.interactive()),
                () -> String.format(Locale.ROOT, "training started %.0f s ago; the first checkpoint is published at the first evaluation (%s)",
                        (System.nanoTime() - started) / 1e9, c.trainer() == TrainerKind.BYTEPS
                                ? "after " + c.byteps().evalEvery() + " steps, or at the end of epoch 1 if that comes first" : "at the end of epoch 1"),
                reader.prompt(top))) {
            session.set(s);
            Thread training = startTraining(ctx, s, failure);
            trainingStarted.set(true);
            s.run();
            if (training.isAlive()) {
                top.out.println("Prompt closed; training continues until its last epoch (Ctrl-C stops it).");
                top.out.flush();
            }
            training.join();
        } catch (RuntimeException e) {
            if (!trainingStarted.get()) TrainingJob.abandon(ctx, "the prompt could not open: " + LiveTrain.oneLine(e));
            throw e;
        }
        if (failure.get() instanceof Exception e) throw e;
        if (failure.get() != null) throw new RuntimeException(failure.get());
        return 0;
    }

    /** Trains in a thread of its own, telling the prompt how training ended; a failure goes to {@code failure}. */
    private static Thread startTraining(TrainingRun ctx, TerminalSession s, AtomicReference<Throwable> failure) {
        Thread training = new Thread(() -> {
            try {
                TrainingJob.train(ctx);
                s.models().poll();
                if (!s.reader().closed()) s.reader().printAbove("training finished; the prompt keeps answering from the best model (q to quit)");
            } catch (Throwable t) {
                failure.set(t);
                s.reader().printAbove("training failed: " + LiveTrain.oneLine(t) + "; the prompt keeps answering from the best model so far");
            }
        }, "livetrain-training");
        training.start();
        return training;
    }
}
