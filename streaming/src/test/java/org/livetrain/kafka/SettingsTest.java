package org.livetrain.kafka;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Issue 25, point 10: relative {@code --allowed-roots} are resolved once, on the driver where the user typed
 * them, not on each executor's working directory (which on a cluster is the executor's own scratch folder).
 */
@Tag("fast")
class SettingsTest {
    @Test
    void relativeAllowedRootsAreMadeAbsoluteOnTheDriver() {
        KafkaScorer.Settings s = new KafkaScorer.Settings("127.0.0.1:9092", "in", "out", "ckpt", "ckpt/scorer-query", "1 second",
                List.of("data/../images", "/srv/images/"), 1, 1, 1, Map.of());
        Path here = Path.of("").toAbsolutePath();
        assertEquals(List.of(here.resolve("images").toString(), "/srv/images"), s.allowedRoots());
    }
}
