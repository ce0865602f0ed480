package org.livetrain.jobs.byteps;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;
import org.livetrain.image.InputContract;
import org.livetrain.image.Profile;
import org.livetrain.image.Shape;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunStore;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Worker 0's background publisher reports every failed publication, also one queued behind others (issue 13, point 13). */
@Tag("fast")
class PublisherTest {
    @TempDir
    Path dir;

    @Test
    void aFailedPublicationQueuedBehindOthersIsReported() throws Exception {
        RunStore run = CheckpointStore.create(dir.toString(), new Configuration())
                .newRun(null, Map.of("trainer", "test", "data", "digits", "model", "mlp"), null, 5, null);
        Network good = Models.create(Models.Kind.MLP, new Shape(8, 8, 1), 3, 1e-3, 1), bad = good.copy();
        bad.params().putScalar(0, Float.NaN);
        try (Publisher p = new Publisher(run, INPUT, Hooks.NONE, 0)) {
            p.publish(good, meta(1));
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> {
                p.publish(bad, meta(2)); // fails in the background, behind the first
                p.publish(good, meta(3)); // queued behind it, and succeeds
                p.drain();
            });
            assertTrue(e.getMessage().contains("step-2: its parameters are not finite"), e.getMessage());
        }
        List<Long> published = run.history().stream().map(h -> h.step()).toList();
        assertEquals(1L, published.get(0));
        assertTrue(!published.contains(2L), published.toString());
    }

    /** A killed attempt's publisher still draining when the retried attempt starts publishes nothing more (issue 13, point 12). */
    @Test
    void anAttemptFencedOffByALaterOneStopsPublishing() throws Exception {
        RunStore run = CheckpointStore.create(dir.toString(), new Configuration())
                .newRun(null, Map.of("trainer", "test", "data", "digits", "model", "mlp"), null, 5, null);
        Network net = Models.create(Models.Kind.MLP, new Shape(8, 8, 1), 3, 1e-3, 1);
        try (Publisher first = new Publisher(run, INPUT, Hooks.NONE, 0)) {
            first.publish(net, meta(10));
            first.drain();
            run.fence(1); // the retried attempt starts
            first.publish(net, meta(20)); // the old publisher, late
            IllegalStateException e = assertThrows(IllegalStateException.class, first::drain);
            assertTrue(e.getMessage().contains("step 20 of attempt 1 not published: attempt 2 writes this run now"), e.getMessage());
        }
        try (Publisher second = new Publisher(run, INPUT, Hooks.NONE, 1)) {
            second.publish(net, meta(15));
            second.drain();
        }
        assertEquals(List.of(10L, 15L), run.history().stream().map(h -> h.step()).toList());
        assertEquals(15, run.latest().orElseThrow().step(), "latest never moved to the fenced-off attempt's step");
    }

    private static final InputContract INPUT = InputContract.of(new Shape(8, 8, 1), Profile.OBJECT, List.of("a", "b", "c"));

    private static CheckpointMeta meta(long step) {
        return CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, 1, 0.5, 0.5, 0.5), new CheckpointMeta.Origin("test", 1, "digits", "mlp", null),
                new CheckpointMeta.Timing(1.0, 100.0), Map.of());
    }
}
