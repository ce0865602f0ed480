package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run's frozen listing: written as plain JSON, read back exactly, and what a grown or shrunk folder does to it. */
@Tag("fast")
class ManifestTest {
    @TempDir
    Path dir;

    private Dataset folder() {
        return Dataset.open("folder:" + dir.resolve("images"), new Configuration());
    }

    @Test
    void aGrownFolderIsSeenAsItWasListed() throws Exception {
        FolderPoolTest.writeDigits(dir.resolve("images"), 0, 60);
        Dataset then = folder();
        Manifest m = Manifest.parse(Manifest.of(then).orElseThrow().json(), "manifest.json");
        assertEquals(60, m.keys().size());
        assertTrue(m.keys().get(0).matches("digit-\\d/\\d+\\.png"), m.keys().get(0));
        Files.copy(dir.resolve("images").resolve(m.keys().get(0)), dir.resolve("images/digit-3/new.png"));
        Files.copy(dir.resolve("images").resolve(m.keys().get(1)), dir.resolve("images/digit-0/new.png"));
        Manifest.Frozen frozen = m.restrict(folder(), "r1");
        assertEquals(2, frozen.added());
        List<String> keys = new ArrayList<>();
        FolderPool pool = (FolderPool) frozen.data().pool();
        for (int i = 0; i < pool.size(); i++) keys.add(pool.file(i));
        assertEquals(m.keys(), keys, "the same examples in the same order");
        assertEquals(then.split(7).rule(), frozen.data().split(7).rule());
        assertEquals(Arrays.toString(then.split(7).train()), Arrays.toString(frozen.data().split(7).train()), "the same training indices");

        Files.delete(dir.resolve("images").resolve(m.keys().get(5)));
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> m.restrict(folder(), "r1"));
        assertTrue(e.getMessage().startsWith("--resume r1: 1 of the 60 examples it listed are gone from folder:" + dir.resolve("images") + " (" + m.keys().get(5) + ")"),
                e.getMessage());
    }

    @Test
    void anythingButAManifestIsRefusedInOneLine() {
        for (String bad : List.of("{", "[]", "{\"format\":\"livetrain-manifest\",\"version\":2,\"keys\":[]}", "{\"format\":\"x\",\"version\":1,\"keys\":[]}",
                "{\"format\":\"livetrain-manifest\",\"version\":1,\"keys\":[null]}", "{\"@class\":\"java.lang.ProcessBuilder\"}")) {
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> Manifest.parse(bad.getBytes(StandardCharsets.UTF_8), "m.json"), bad);
            assertTrue(e.getMessage().startsWith("m.json: not a "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }
}
