package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import org.livetrain.image.InputContract;

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
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunInfo(
        @JsonProperty("id") String id,
        @JsonProperty("number") int number,
        @JsonProperty("state") String state,
        @JsonProperty("settings") Map<String, Object> settings,
        @JsonProperty("started") String started,
        @JsonProperty("ended") String ended,
        @JsonProperty("host") String host,
        @JsonProperty("pid") Long pid,
        @JsonProperty("wall_seconds") Double wallSeconds,
        @JsonProperty("test_accuracy") Double testAccuracy,
        @JsonProperty("test_examples") Integer testExamples,
        @JsonProperty("error") String error,
        @JsonProperty("input") InputContract input) {

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

    /** The same run, running again in this process (a resumption) or for the first time. */
    RunInfo running(String now, String onHost, long processId) {
        return new RunInfo(id, number, RUNNING, settings, started == null ? now : started, null, onHost, processId,
                wallSeconds, testAccuracy, testExamples, null, input);
    }

    /** The run as it ended: its state, the training time so far, the test accuracy if it was measured, the error if any. */
    public RunInfo ended(String endState, String now, Double wall, Double test, Integer examples, String failure) {
        return new RunInfo(id, number, endState, settings, started, now, host, pid, wall,
                test != null ? test : testAccuracy, examples != null ? examples : testExamples, failure, input);
    }

    /** The same run with its settings replaced (a resumption that extends --epochs). */
    public RunInfo withSettings(Map<String, Object> newSettings) {
        return new RunInfo(id, number, state, newSettings, started, ended, host, pid, wallSeconds, testAccuracy, testExamples, error, input);
    }
}
