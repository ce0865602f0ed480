package org.livetrain.jobs;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code runs} on directories that no training wrote as it would. */
@Tag("fast")
class RunsCommandTest {
    @TempDir
    Path dir;

    @Test
    void aRunWhoseRunJsonLacksEveryFieldIsListedWithDashes() throws Exception {
        Path run = Files.createDirectories(dir.resolve("runs/20261206-120000"));
        Files.writeString(run.resolve("run.json"), "{}");
        Cli r = Cli.run("runs", "--checkpoint-dir", dir.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().startsWith("1 run in "), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.contains("20261206-120000") && l.contains(" - ")), r.out());
    }
}
