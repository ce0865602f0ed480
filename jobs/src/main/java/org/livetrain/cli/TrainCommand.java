package org.livetrain.cli;

import org.livetrain.jobs.TrainConfig;
import org.livetrain.jobs.TrainingJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.concurrent.Callable;

/** {@code livetrain train}: the training job. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Train the classifier on Spark, evaluate on the dev split, and publish checkpoints (best.json, latest.json)."})
public final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--data", paramLabel = "SPEC", description = "digits (bundled), fashion (Debian dataset-fashion-mnist), idx:DIR or folder:DIR.")
    String data;

    @Option(names = "--workers", paramLabel = "N", description = "Worker tasks (Spark partitions).")
    int workers;

    @Option(names = "--epochs", paramLabel = "E", description = "Passes over the training split.")
    int epochs;

    @Option(names = "--batch", paramLabel = "B", description = "Mini-batch size per worker.")
    int batch;

    @Option(names = "--learning-rate", paramLabel = "LR", description = "Adam learning rate.")
    double learningRate;

    @Option(names = "--model", paramLabel = "NAME", description = "lenet or mlp.")
    String model;

    @Option(names = "--trainer", paramLabel = "NAME", description = "averaging: dl4j-spark parameter averaging (the reference baseline).")
    String trainer;

    @Option(names = "--averaging-frequency", paramLabel = "K", description = "averaging trainer: mini-batches each worker fits between two parameter averages.")
    int averagingFrequency;

    @Option(names = "--checkpoint-dir", paramLabel = "URI", description = "Where checkpoints go: a local path or any Hadoop URI (hdfs://, s3a://).")
    String checkpointDir;

    @Option(names = "--keep", paramLabel = "K", description = "Checkpoints kept besides the best: the newest K.")
    int keep;

    @Option(names = "--seed", paramLabel = "SEED", description = "Seed of the data split, shuffling and initial weights.")
    long seed;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
        common.apply();
        TrainConfig cfg = new TrainConfig(data, workers, epochs, batch, learningRate, model, trainer, averagingFrequency,
                checkpointDir, keep, seed, common.conf());
        TrainingJob.run(cfg, spec.commandLine().getOut());
        return 0;
    }
}
