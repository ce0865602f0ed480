package org.livetrain.kafka;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.serving.ImageLimits;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Issue 25, point 10: relative {@code --allowed-roots} are resolved once, on the driver where the user typed
 * them, not on each executor's working directory (which on a cluster is the executor's own scratch folder).
 */
@Tag("fast")
class SettingsTest {
    @Test
    void relativeAllowedRootsAreMadeAbsoluteOnTheDriver() {
        KafkaScorer.Reading r = new KafkaScorer.Reading(List.of("data/../images", "/srv/images/"), ImageLimits.DEFAULT);
        Path here = Path.of("").toAbsolutePath();
        assertEquals(List.of(here.resolve("images").toString(), "/srv/images"), r.allowedRoots());
    }
}
