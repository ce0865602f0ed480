package org.livetrain.serving;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import org.livetrain.io.FlatJson;

import java.io.IOException;
import java.util.List;

/**
 * The answer to one request, as the terminal reader's {@code --json} mode and the Kafka scorer write it:
 * {@code {"request_id", "path", "prediction", "confidence", "top", "model_step", "model_run", "model_sha256",
 * "model_val_accuracy", "error", "shadow"}}, every field present. Here the prediction's fields and the answering model's come in groups.
 * A refused request has {@code prediction: null} and {@code error} set. {@code shadow} is null unless a candidate
 * model is being shadowed ({@link Promotion}): then it holds the candidate's answer to the same request, which
 * was not the one given.
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
@JsonPropertyOrder({"request_id", "path", "answer", "model", "error", "shadow"})
@JsonDeserialize(using = ScoreRecord.Reader.class)
public record ScoreRecord(@JsonProperty("request_id") String requestId, @JsonProperty("path") String path, @JsonUnwrapped Prediction answer,
                          @JsonUnwrapped Answerer model, @JsonProperty("error") String error, @JsonProperty("shadow") Shadow shadow) {

    public ScoreRecord(String requestId, String path, Prediction answer, Answerer model, String error) {
        this(requestId, path, answer, model, error, null);
    }

    /** The most likely class, its probability, and the most likely classes (null when refused). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.ALWAYS)
    @JsonPropertyOrder({"prediction", "confidence", "top"})
    public record Prediction(@JsonProperty("prediction") String label, @JsonProperty("confidence") Double confidence,
                             @JsonProperty("top") List<Candidate> top) {
        static final Prediction NONE = new Prediction(null, null, null);
    }

    /**
     * The model that answered, exactly: its step, its run, the sha256 of its checkpoint's model file (as
     * best.json and checkpoint.json name it), its dev accuracy (null when none did).
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.ALWAYS)
    @JsonPropertyOrder({"model_step", "model_run", "model_sha256", "model_val_accuracy"})
    public record Answerer(@JsonProperty("model_step") Long step, @JsonProperty("model_run") String run,
                           @JsonProperty("model_sha256") String sha256, @JsonProperty("model_val_accuracy") Double valAccuracy) {
        static final Answerer NONE = new Answerer(null, null, null, null);
    }

    /** A shadowed candidate's answer: its class and confidence, or why it could not answer, and which model it is. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.ALWAYS)
    @JsonPropertyOrder({"prediction", "confidence", "model_step", "model_run", "model_sha256", "error"})
    public record Shadow(@JsonProperty("prediction") String label, @JsonProperty("confidence") Double confidence, @JsonProperty("model_step") Long step,
                         @JsonProperty("model_run") String run, @JsonProperty("model_sha256") String sha256, @JsonProperty("error") String error) {
    }

    /** This answer with a shadowed candidate's answer to the same request beside it. */
    public ScoreRecord withShadow(ScoreRecord candidate) {
        Answerer by = candidate.model;
        boolean finite = !candidate.ok() || candidate.finite(); // JSON has no NaN
        return new ScoreRecord(requestId, path, answer, model, error, new Shadow(finite ? candidate.prediction() : null, finite ? candidate.confidence() : null,
                by.step(), by.run(), by.sha256(), finite ? candidate.error() : "the candidate's outputs are not finite numbers"));
    }

    /** Whether every probability the answer gives is a number (a broken network's are NaN). */
    public boolean finite() {
        return answer.confidence() != null && Double.isFinite(answer.confidence()) && (answer.top() == null || answer.top().stream().allMatch(c -> Double.isFinite(c.p())));
    }

    /** One of the most likely classes. */
    public record Candidate(@JsonProperty("label") String label, @JsonProperty("p") double p) {
    }

    public static ScoreRecord error(String requestId, String path, String error) {
        return new ScoreRecord(requestId, path, Prediction.NONE, Answerer.NONE, error);
    }

    public boolean ok() {
        return error == null;
    }

    /** The predicted class; null when refused. */
    public String prediction() {
        return answer.label();
    }

    public Double confidence() {
        return answer.confidence();
    }

    public List<Candidate> top() {
        return answer.top();
    }

    public Long modelStep() {
        return model.step();
    }

    public Double modelValAccuracy() {
        return model.valAccuracy();
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
        if (cut(requestId, MAX_ID) == requestId && cut(path, MAX_TEXT) == path && cut(error, MAX_TEXT) == error
                && (shadow == null || cut(shadow.error(), MAX_TEXT) == shadow.error())) return this;
        return new ScoreRecord(cut(requestId, MAX_ID), cut(path, MAX_TEXT), answer, model, cut(error, MAX_TEXT), shadow == null ? null
                : new Shadow(shadow.label(), shadow.confidence(), shadow.step(), shadow.run(), shadow.sha256(), cut(shadow.error(), MAX_TEXT)));
    }

    /** {@code text} if it is at most {@code max} characters, else its start and how long it was. */
    public static String cut(String text, int max) {
        if (text == null || text.length() <= max) return text;
        return text.substring(0, max) + "... (cut from " + text.length() + " characters)";
    }


    /** Reads the flat record into its groups. */
    static final class Reader extends FlatJson<ScoreRecord> {
        Reader() {
            super(ScoreRecord.class);
        }

        @Override
        protected ScoreRecord read(JsonNode n) throws IOException {
            return new ScoreRecord(field(n, "request_id", String.class), field(n, "path", String.class), group(n, Prediction.class),
                    group(n, Answerer.class), field(n, "error", String.class), field(n, "shadow", Shadow.class));
        }
    }
}
