package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import org.livetrain.image.InputContract;
import org.livetrain.io.FlatJson;

import java.io.IOException;
import java.util.Map;

/**
 * What {@code runs/<run>/run.json} says of one training run: its id and number in the directory, the
 * settings it was started with (the options that define the run; never {@code --conf}, which may hold
 * credentials), the input contract of its data, where and when it ran, how it ended, and the test accuracy
 * of its best checkpoint.
 * What the checkpoints already say (steps, dev accuracy) is read from the run's pointers instead.
 *
 * <p>{@code state}: {@value #RUNNING}, {@value #FINISHED}, {@value #FAILED} (with {@code error}),
 * {@value #INTERRUPTED} (stopped by a signal, or found {@value #RUNNING} with no live process behind it),
 * {@value #EARLIER} (written by a version without runs, so its end was not recorded).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"id", "number", "state", "settings", "process", "outcome", "input"})
@JsonDeserialize(using = RunInfo.Reader.class)
public record RunInfo(@JsonProperty("id") String id, @JsonProperty("number") int number, @JsonProperty("state") String state,
                      @JsonProperty("settings") Map<String, Object> settings, @JsonUnwrapped Process process, @JsonUnwrapped Outcome outcome,
                      @JsonProperty("input") InputContract input) {

    /** Where and when the run ran: started and ended (ISO instants), and the host and pid of its process. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Process(@JsonProperty("started") String started, @JsonProperty("ended") String ended, @JsonProperty("host") String host,
                          @JsonProperty("pid") Long pid) {
        static final Process NOT_STARTED = new Process(null, null, null, null);
    }

    /** How it ended: its training time, the test accuracy of its best checkpoint and on how many examples, the error if it failed. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Outcome(@JsonProperty("wall_seconds") Double wallSeconds, @JsonProperty("test_accuracy") Double testAccuracy,
                          @JsonProperty("test_examples") Integer testExamples, @JsonProperty("error") String error) {
        static final Outcome NONE = new Outcome(null, null, null, null);
    }

    /** A run just created, before {@link #running}. */
    static RunInfo created(String id, int number, Map<String, Object> settings, InputContract input) {
        return new RunInfo(id, number, RUNNING, settings, Process.NOT_STARTED, Outcome.NONE, input);
    }

    /** A run of a directory written before runs existed: what can be said of it. */
    static RunInfo earlier(String id, int number, Map<String, Object> settings, String started, Double wallSeconds, InputContract input) {
        return new RunInfo(id, number, EARLIER, settings, new Process(started, null, null, null), new Outcome(wallSeconds, null, null, null), input);
    }

    public static final String RUNNING = "running";
    public static final String FINISHED = "finished";
    public static final String FAILED = "failed";
    public static final String INTERRUPTED = "interrupted";
    public static final String EARLIER = "earlier";

    @JsonIgnore
    public String trainer() {
        return setting("trainer");
    }

    @JsonIgnore
    public String data() {
        return setting("data");
    }

    @JsonIgnore
    public String model() {
        return setting("model");
    }

    public String setting(String key) {
        Object v = settings == null ? null : settings.get(key);
        return v == null ? null : String.valueOf(v);
    }

    public String started() {
        return process.started();
    }

    public Double wallSeconds() {
        return outcome.wallSeconds();
    }

    public Double testAccuracy() {
        return outcome.testAccuracy();
    }

    public String error() {
        return outcome.error();
    }

    /** The same run, running again in this process (a resumption) or for the first time. */
    RunInfo running(String now, String onHost, long processId) {
        Process p = new Process(process.started() == null ? now : process.started(), null, onHost, processId);
        return new RunInfo(id, number, RUNNING, settings, p, new Outcome(outcome.wallSeconds(), outcome.testAccuracy(), outcome.testExamples(), null), input);
    }

    /** The run as it ended: its state, the training time so far, the test accuracy if it was measured, the error if any. */
    public RunInfo ended(String endState, String now, Double wall, Double test, Integer examples, String failure) {
        Process p = new Process(process.started(), now, process.host(), process.pid());
        Outcome o = new Outcome(wall, test != null ? test : outcome.testAccuracy(), examples != null ? examples : outcome.testExamples(), failure);
        return new RunInfo(id, number, endState, settings, p, o, input);
    }

    /** The same run with its settings replaced (a resumption that extends --epochs). */
    public RunInfo withSettings(Map<String, Object> newSettings) {
        return new RunInfo(id, number, state, newSettings, process, outcome, input);
    }

    /** Reads the flat file into the groups. */
    static final class Reader extends FlatJson<RunInfo> {
        Reader() {
            super(RunInfo.class);
        }

        @Override
        protected RunInfo read(JsonNode n) throws IOException {
            return new RunInfo(field(n, "id", String.class), n.path("number").asInt(), field(n, "state", String.class), map(n, "settings"),
                    group(n, Process.class), group(n, Outcome.class), field(n, "input", InputContract.class));
        }
    }
}
