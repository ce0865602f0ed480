package org.livetrain.cli;

import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.io.HadoopConfs;
import org.livetrain.model.ModelSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.util.concurrent.Callable;

/** {@code livetrain model NAME}: a built-in network's DL4J configuration as JSON, to edit and train with {@code --model-config}. */
@Command(name = "model", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Print the DL4J configuration (JSON, as toJson() writes it) of a built-in network sized for the data:",
                "a starting point to edit and train with train --model-config FILE."})
public final class ModelCommand implements Callable<Integer> {
    @Parameters(paramLabel = "NAME", description = "lenet, mlp or resnet.")
    String name;

    @Option(names = "--data", paramLabel = "SPEC", description = "The data it is sized for (input shape, classes), as train --data.")
    String data;

    @Option(names = "--learning-rate", paramLabel = "LR", description = "Adam learning rate written into the configuration.")
    double learningRate;

    @Option(names = "--seed", paramLabel = "SEED", description = "Seed of the initial weights written into the configuration.")
    long seed;

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain top;

    @Override
    public Integer call() {
        common.apply();
        ModelSpec spec = LiveTrainException.about("--model", () -> ModelSpec.builtIn(name));
        Dataset d = LiveTrainException.about("--data", () -> Dataset.open(data, HadoopConfs.from(common.conf())));
        top.out.println(spec.create(d.shape(), d.numClasses(), learningRate, seed).configJson());
        return 0;
    }
}
