package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;

import java.io.Serializable;

/**
 * The content of {@code best.json} and {@code latest.json} (of the directory and of each run): which
 * checkpoint, of which run, where (relative to the checkpoint directory), its checksum and its dev metrics.
 * {@code run} is absent in pointers written before runs existed.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Pointer(
        @JsonProperty("step") long step,
        @JsonProperty("epoch") int epoch,
        @JsonProperty("path") String path,
        @JsonProperty("sha256") String sha256,
        @JsonProperty("dev_accuracy") double devAccuracy,
        @JsonProperty("dev_loss") double devLoss,
        @JsonProperty("created") String created,
        @JsonProperty("run") String run) implements Serializable {

    static Pointer of(CheckpointMeta m, String path) {
        return new Pointer(m.step(), m.epoch(), path, m.sha256(), m.devAccuracy(), m.evaluation().devLoss(), m.timing().created(), m.run());
    }

    /** The same checkpoint at another place (a migrated directory). */
    Pointer at(String newPath, String newRun) {
        return new Pointer(step, epoch, newPath, sha256, devAccuracy, devLoss, created, newRun);
    }

    /** As {@code best.json} holds it, on one line. */
    public String toJson() {
        try {
            return CheckpointStore.JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Pointer fromJson(String json) {
        try {
            return CheckpointStore.JSON.readValue(json, Pointer.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a checkpoint pointer: " + e.getOriginalMessage(), e);
        }
    }

    /** {@code step 150 of run 20261128-035711}, or {@code step 150} when the run is not known. */
    public String describe() {
        return "step " + step + (run == null ? "" : " of run " + run);
    }
}
