package org.livetrain.kafka;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.execution.streaming.CheckpointFileManager;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The query log's files on a local disk: written whole or not at all, as Spark's own manager writes them. */
@Tag("fast")
class LocalQueryLogTest {
    @TempDir
    java.nio.file.Path dir;

    @Test
    void aLogFileAppearsOnlyWhenClosedAndACancelledOneNever() throws Exception {
        Path offsets = new Path(dir.toUri().toString(), "offsets");
        CheckpointFileManager logs = new LocalQueryLog(offsets, new Configuration());
        logs.mkdirs(offsets);
        try (OutputStream out = logs.createAtomic(new Path(offsets, "0"), false)) {
            out.write("v1\n{}".getBytes(StandardCharsets.UTF_8));
            assertFalse(Files.exists(dir.resolve("offsets/0")), "not visible before it is complete");
        }
        assertEquals("v1\n{}", Files.readString(dir.resolve("offsets/0")));
        assertTrue(logs.exists(new Path(offsets, "0")));

        CheckpointFileManager.CancellableFSDataOutputStream cancelled = logs.createAtomic(new Path(offsets, "1"), false);
        cancelled.write(1);
        cancelled.cancel();
        assertFalse(Files.exists(dir.resolve("offsets/1")));
        try (var files = Files.list(dir.resolve("offsets"))) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
        // a batch's log entry is never replaced: a second writer of the same batch is refused
        OutputStream again = logs.createAtomic(new Path(offsets, "0"), false);
        again.write(2);
        assertThrows(Exception.class, again::close);
        assertEquals("v1\n{}", Files.readString(dir.resolve("offsets/0")));
    }
}
