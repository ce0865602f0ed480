package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A training run's position between evaluations, {@code runs/RUN/progress.json}: replaced every few seconds
 * by the training job, read by progress bars and the prompt's {@code status}. Nothing depends on it.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Position(
        @JsonProperty("step") long step,
        @JsonProperty("total_steps") long totalSteps,
        @JsonProperty("epoch") int epoch,
        @JsonProperty("epochs") int epochs,
        @JsonProperty("steps_per_second") double stepsPerSecond,
        @JsonProperty("updated") String updated) {
}
