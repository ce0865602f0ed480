package org.livetrain.jobs;

import java.io.Serializable;
import java.util.Map;

/** Everything a training run is asked to do, as given on the command line (after defaults). */
public record TrainConfig(
        String data,
        int workers,
        int epochs,
        int batch,
        double learningRate,
        String model,
        String trainer,
        int averagingFrequency,
        int evalEvery,
        int servers,
        int partitionBytes,
        String compress,
        boolean augment,
        boolean async,
        String checkpointDir,
        int keep,
        long seed,
        Map<String, String> conf) implements Serializable {

    public boolean fp16() {
        return "fp16".equals(compress);
    }
}
