package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A training run's position between evaluations, {@code runs/RUN/progress.json}: replaced every few seconds
 * by the training job, read by progress bars and the prompt's {@code status}. Nothing depends on it. When
 * the run ends, its last position is written once more with {@code state} (finished, failed, interrupted).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Position(
        @JsonProperty("step") long step,
        @JsonProperty("total_steps") long totalSteps,
        @JsonProperty("epoch") int epoch,
        @JsonProperty("epochs") int epochs,
        @JsonProperty("steps_per_second") double stepsPerSecond,
        @JsonProperty("updated") String updated,
        @JsonProperty("state") String state) {

    public Position(long step, long totalSteps, int epoch, int epochs, double stepsPerSecond, String updated) {
        this(step, totalSteps, epoch, epochs, stepsPerSecond, updated, null);
    }

    /** Where the run ended, and how: a finished run is at its last step; another stopped where it was last seen. */
    public Position ended(String how, String at) {
        boolean finished = RunInfo.FINISHED.equals(how);
        return new Position(finished ? totalSteps : step, totalSteps, finished ? epochs : epoch, epochs, 0, at, how);
    }
}
