package org.livetrain.kafka;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * Spark's file-system checkpoint manager for a query checkpoint on a local disk, with each new offset and
 * commit log file written through java.nio: Hadoop's local file system sets a new file's permissions by
 * running {@code chmod} in a child process when Hadoop's native library is absent (as here), two processes per
 * micro-batch (issue 29's profile: 2% of the scorer's CPU, and its process reaper thread another 2.6%, at
 * 300 requests/s). The rename that publishes a file stays Spark's. Set as
 * {@code spark.sql.streaming.checkpointFileManagerClass} for a local query checkpoint only.
 */
public final class LocalQueryLog extends FileSystemBasedCheckpointFileManager {
    public LocalQueryLog(Path path, Configuration conf) {
        super(path, conf);
    }

    @Override
    public FSDataOutputStream createTempFile(Path path) {
        try {
            java.nio.file.Path file = Paths.get(path.toUri().getPath());
            Files.createDirectories(file.getParent());
            return new FSDataOutputStream(Files.newOutputStream(file), null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
