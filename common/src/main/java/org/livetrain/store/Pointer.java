package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The content of {@code best.json} and {@code latest.json}: which checkpoint, where (relative to the
 * checkpoint directory), its checksum and its dev metrics.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Pointer(
        @JsonProperty("step") long step,
        @JsonProperty("epoch") int epoch,
        @JsonProperty("path") String path,
        @JsonProperty("sha256") String sha256,
        @JsonProperty("dev_accuracy") double devAccuracy,
        @JsonProperty("dev_loss") double devLoss,
        @JsonProperty("created") String created) {

    static Pointer of(CheckpointMeta m, String path) {
        return new Pointer(m.step(), m.epoch(), path, m.sha256(), m.devAccuracy(), m.devLoss(), m.created());
    }
}
