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

    /** The most of a request id an answer echoes, in characters. */
    public static final int MAX_ID = 1024;
    /** The most of a path, and of an error message, an answer echoes, in characters. */
    public static final int MAX_TEXT = 4096;

    /**
     * This answer with what it echoes of the request (id, path, error message) cut to {@link #MAX_ID} and
     * {@link #MAX_TEXT} characters, a cut marked as such: whatever the request, its answer stays a few tens
     * of KB, even with every character escaped in JSON.
     */
    public ScoreRecord bounded() {
        if (cut(requestId, MAX_ID) == requestId && cut(path, MAX_TEXT) == path && cut(error, MAX_TEXT) == error) return this;
        return new ScoreRecord(cut(requestId, MAX_ID), cut(path, MAX_TEXT), prediction, confidence, top, modelStep, modelRun, modelValAccuracy,
                cut(error, MAX_TEXT));
    }

    /** {@code text} if it is at most {@code max} characters, else its start and how long it was. */
    public static String cut(String text, int max) {
        if (text == null || text.length() <= max) return text;
        return text.substring(0, max) + "... (cut from " + text.length() + " characters)";
    }

    public boolean ok() {
        return error == null;
    }
}
