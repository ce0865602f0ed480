package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import org.livetrain.io.FlatJson;

import java.io.IOException;
import java.util.Map;

/**
 * What {@code meta.json} says of one checkpoint. The file is flat; here its fields come in groups:
 * <pre>
 * field                                 group        meaning
 * step, epoch                           evaluation   where in training it was taken
 * dev_accuracy, dev_loss, train_loss    evaluation   how good it is
 * trainer, workers, data, model, run    origin       what produced it (the run is filled in by the store)
 * elapsed_seconds, examples_per_second  timing       the run's training time so far (across resumptions), its speed,
 * created                               timing       and when the checkpoint was written (by the store)
 * sha256, model_bytes                   file         its model.zip's checksum and size (by the store)
 * stats                                              trainer-specific figures
 * </pre>
 * The input contract is not here: it travels inside {@code model.zip} and in the run's {@code run.json}.
 * Checkpoints written before issue 26 also carry {@code classes} and {@code input}; the store reads those
 * ({@link CheckpointStore#load}), nothing else does.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"evaluation", "origin", "timing", "file", "stats"})
@JsonDeserialize(using = CheckpointMeta.Reader.class)
public record CheckpointMeta(@JsonUnwrapped Evaluation evaluation, @JsonUnwrapped Origin origin, @JsonUnwrapped Timing timing,
                             @JsonUnwrapped ModelFile file, @JsonProperty("stats") Map<String, Object> stats) {

    /** Where in training the checkpoint was taken, and how good it is on the dev split. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Evaluation(@JsonProperty("step") long step, @JsonProperty("epoch") int epoch, @JsonProperty("dev_accuracy") double devAccuracy,
                             @JsonProperty("dev_loss") double devLoss, @JsonProperty("train_loss") double trainLoss) {
    }

    /** What produced it: the trainer and its workers, the data, the model, the run (null until published). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Origin(@JsonProperty("trainer") String trainer, @JsonProperty("workers") int workers, @JsonProperty("data") String data,
                         @JsonProperty("model") String model, @JsonProperty("run") String run) {
        Origin of(String byRun) {
            return new Origin(trainer, workers, data, model, byRun);
        }
    }

    /** The run's training time when it was taken (across resumptions), examples per second, and when it was written (null until then). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Timing(@JsonProperty("elapsed_seconds") double elapsedSeconds, @JsonProperty("examples_per_second") double examplesPerSecond,
                         @JsonProperty("created") String created) {
        public Timing(double elapsedSeconds, double examplesPerSecond) {
            this(elapsedSeconds, examplesPerSecond, null);
        }
    }

    /** The written model.zip: its sha256 and size (null and 0 until it is written). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ModelFile(@JsonProperty("sha256") String sha256, @JsonProperty("model_bytes") long modelBytes) {
        static final ModelFile NOT_WRITTEN = new ModelFile(null, 0);
    }

    /** What a trainer knows at an evaluation; the run store fills in the run, the time and the file's facts. */
    public static CheckpointMeta evaluation(Evaluation evaluation, Origin origin, Timing timing, Map<String, Object> stats) {
        return new CheckpointMeta(evaluation, origin, timing, ModelFile.NOT_WRITTEN, stats);
    }

    /** The same metadata as published: by which run, when, and the sha256 and size of the written model. */
    CheckpointMeta published(String byRun, String createdAt, String sha, long bytes) {
        return new CheckpointMeta(evaluation, origin.of(byRun), new Timing(timing.elapsedSeconds(), timing.examplesPerSecond(), createdAt),
                new ModelFile(sha, bytes), stats);
    }

    public long step() {
        return evaluation.step();
    }

    public int epoch() {
        return evaluation.epoch();
    }

    public double devAccuracy() {
        return evaluation.devAccuracy();
    }

    public String run() {
        return origin.run();
    }

    public double elapsedSeconds() {
        return timing.elapsedSeconds();
    }

    public String sha256() {
        return file.sha256();
    }

    /** A trainer figure of {@code stats} as a number, or null when this checkpoint has none by that name. */
    public Double stat(String name) {
        return stats != null && stats.get(name) instanceof Number n ? n.doubleValue() : null;
    }

    /** Reads the flat file into the groups. */
    static final class Reader extends FlatJson<CheckpointMeta> {
        Reader() {
            super(CheckpointMeta.class);
        }

        @Override
        protected CheckpointMeta read(JsonNode n) throws IOException {
            return new CheckpointMeta(group(n, Evaluation.class), group(n, Origin.class), group(n, Timing.class), group(n, ModelFile.class), map(n, "stats"));
        }
    }
}
