package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonUnwrapped;

import java.util.Map;

/**
 * One run as {@code runs} and {@code report} show it: its record, its state as a reader should see it,
 * and what its pointers and history say (steps reached, best checkpoint, training time).
 */
@JsonPropertyOrder({"id", "number", "state", "setup", "reached", "started", "serving", "settings"})
public record RunSummary(@JsonProperty("id") String id, @JsonProperty("number") int number, @JsonProperty("state") String state,
                         @JsonUnwrapped Setup setup, @JsonUnwrapped Reached reached, @JsonProperty("started") String started,
                         @JsonProperty("serving") boolean serving, @JsonProperty("settings") Map<String, Object> settings) {

    /** What the run trains: its trainer, data and model, and its input contract in words. */
    @JsonPropertyOrder({"trainer", "data", "model", "input"})
    public record Setup(@JsonProperty("trainer") String trainer, @JsonProperty("data") String data, @JsonProperty("model") String model,
                        @JsonProperty("input") String input) {
    }

    /** How far it got: steps, its best checkpoint's step and dev accuracy, its test accuracy, its training time. */
    @JsonPropertyOrder({"steps", "best_step", "best_dev_accuracy", "test_accuracy", "wall_seconds"})
    public record Reached(@JsonProperty("steps") Long steps, @JsonProperty("best_step") Long bestStep,
                          @JsonProperty("best_dev_accuracy") Double bestDevAccuracy, @JsonProperty("test_accuracy") Double testAccuracy,
                          @JsonProperty("wall_seconds") Double wallSeconds) {
    }

    /** The run's id as people read it: the earlier layout's run has none. */
    public String name() {
        return RunStore.name(id);
    }

    static RunSummary of(RunStore run, RunInfo info, String state, Pointer served) {
        var latest = run.latest();
        var best = run.best();
        var history = run.history();
        Double wall = info.wallSeconds() != null && !RunInfo.RUNNING.equals(state) ? info.wallSeconds()
                : history.isEmpty() ? null : history.get(history.size() - 1).meta().elapsedSeconds();
        boolean serving = served != null && best.isPresent() && served.sha256().equals(best.get().sha256());
        Setup setup = new Setup(info.trainer(), info.data(), info.model(), info.input() == null ? null : info.input().describe());
        Reached reached = new Reached(latest.map(Pointer::step).orElse(null), best.map(Pointer::step).orElse(null),
                best.map(Pointer::devAccuracy).orElse(null), info.testAccuracy(), wall);
        return new RunSummary(run.id(), info.number(), state, setup, reached, info.started(), serving, info.settings());
    }
}
