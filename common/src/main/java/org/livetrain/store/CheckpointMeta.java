package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import org.livetrain.image.InputContract;

import java.util.List;
import java.util.Map;

/**
 * What {@code meta.json} says of one checkpoint: when in training it was taken, how good it is, what
 * produced it (trainer, data, model, run), the {@link InputContract} of its input (also inside model.zip), and
 * the sha256 of its {@code model.zip}. Trainer-specific figures go in {@code stats}. {@code elapsed_seconds} counts the run's training time, across resumptions.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CheckpointMeta(
        @JsonProperty("step") long step,
        @JsonProperty("epoch") int epoch,
        @JsonProperty("dev_accuracy") double devAccuracy,
        @JsonProperty("dev_loss") double devLoss,
        @JsonProperty("train_loss") double trainLoss,
        @JsonProperty("trainer") String trainer,
        @JsonProperty("workers") int workers,
        @JsonProperty("data") String data,
        @JsonProperty("model") String model,
        @JsonProperty("classes") List<String> classes,
        @JsonProperty("elapsed_seconds") double elapsedSeconds,
        @JsonProperty("examples_per_second") double examplesPerSecond,
        @JsonProperty("created") String created,
        @JsonProperty("sha256") String sha256,
        @JsonProperty("model_bytes") long modelBytes,
        @JsonProperty("stats") Map<String, Object> stats,
        @JsonProperty("run") String run,
        @JsonProperty("input") InputContract input) {

    /** What a trainer knows at an evaluation; the run store fills in the run, the time and the file's facts. */
    public static CheckpointMeta evaluation(long step, int epoch, double devAccuracy, double devLoss, double trainLoss, String trainer,
                                            int workers, String data, String model, InputContract input, double elapsedSeconds,
                                            double examplesPerSecond, Map<String, Object> stats) {
        return new CheckpointMeta(step, epoch, devAccuracy, devLoss, trainLoss, trainer, workers, data, model, input.classes(), elapsedSeconds,
                examplesPerSecond, null, null, 0, stats, null, input);
    }

    /** A trainer figure of {@code stats} as a number, or null when this checkpoint has none by that name. */
    public Double stat(String name) {
        return stats != null && stats.get(name) instanceof Number n ? n.doubleValue() : null;
    }

    /** The same metadata as published: by which run, when, and the sha256 and size of the written model. */
    CheckpointMeta published(String byRun, String createdAt, String sha, long bytes) {
        return new CheckpointMeta(step, epoch, devAccuracy, devLoss, trainLoss, trainer, workers, data, model, classes,
                elapsedSeconds, examplesPerSecond, createdAt, sha, bytes, stats, byRun, input);
    }
}
