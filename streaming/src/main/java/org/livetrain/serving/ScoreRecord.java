package org.livetrain.serving;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

import java.util.List;

/**
 * The answer to one request, as the terminal reader's {@code --json} mode and the Kafka scorer write it.
 * A refused request has {@code prediction: null} and {@code error} set.
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
@JsonPropertyOrder({"request_id", "path", "prediction", "confidence", "top", "model_step", "model_run", "model_val_accuracy", "error"})
public record ScoreRecord(
        @JsonProperty("request_id") String requestId,
        @JsonProperty("path") String path,
        @JsonProperty("prediction") String prediction,
        @JsonProperty("confidence") Double confidence,
        @JsonProperty("top") List<Candidate> top,
        @JsonProperty("model_step") Long modelStep,
        @JsonProperty("model_run") String modelRun,
        @JsonProperty("model_val_accuracy") Double modelValAccuracy,
        @JsonProperty("error") String error) {

    /** One of the most likely classes. */
    public record Candidate(@JsonProperty("label") String label, @JsonProperty("p") double p) {
    }

    public static ScoreRecord error(String requestId, String path, String error) {
        return new ScoreRecord(requestId, path, null, null, null, null, null, null, error);
    }

    public boolean ok() {
        return error == null;
    }
}
