package org.livetrain.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One line of a run's {@code history.jsonl}: the metadata of a published checkpoint (without its classes and
 * input contract, which stay in {@code meta.json}), and whether it became the directory's best
 * ({@code best}) and the run's best ({@code run_best}) when it was published.
 */
public record HistoryEntry(CheckpointMeta meta, boolean best, boolean runBest) {
    public long step() {
        return meta.step();
    }

    JsonNode toJson() {
        ObjectNode line = CheckpointStore.JSON.valueToTree(meta);
        line.put("best", best);
        line.put("run_best", runBest);
        return line;
    }

    static HistoryEntry of(JsonNode line) {
        try {
            return new HistoryEntry(CheckpointStore.JSON.treeToValue(line, CheckpointMeta.class), line.path("best").asBoolean(),
                    line.path("run_best").asBoolean());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a history line: " + e.getOriginalMessage(), e);
        }
    }
}
