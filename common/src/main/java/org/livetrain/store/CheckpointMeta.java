package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.Map;

/**
 * What {@code meta.json} says of one checkpoint: when in training it was taken, how good it is, what
 * produced it, and the sha256 of its {@code model.zip}. Trainer-specific figures go in {@code stats}.
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
        @JsonProperty("classes") java.util.List<String> classes,
        @JsonProperty("elapsed_seconds") double elapsedSeconds,
        @JsonProperty("examples_per_second") double examplesPerSecond,
        @JsonProperty("created") String created,
        @JsonProperty("sha256") String sha256,
        @JsonProperty("model_bytes") long modelBytes,
        @JsonProperty("stats") Map<String, Object> stats) {

    /** The same metadata with the facts of the written file filled in. */
    public CheckpointMeta withFile(String created, String sha256, long modelBytes) {
        return new CheckpointMeta(step, epoch, devAccuracy, devLoss, trainLoss, trainer, workers, data, model, classes,
                elapsedSeconds, examplesPerSecond, created, sha256, modelBytes, stats);
    }
}
