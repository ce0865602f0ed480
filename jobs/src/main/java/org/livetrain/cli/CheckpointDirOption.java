package org.livetrain.cli;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.LiveTrainException;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointStore;
import picocli.CommandLine.Option;

/** {@code --checkpoint-dir}, the same for every command that writes or reads a checkpoint directory. */
public final class CheckpointDirOption {
    @Option(names = "--checkpoint-dir", paramLabel = "URI",
            description = "The checkpoint directory, where training writes and serving reads: a local path or any Hadoop URI (hdfs://, s3a://, ...).")
    String uri;

    /** The directory, reached with {@code conf} (Spark's Hadoop configuration, or that of {@code --conf spark.hadoop.*}). */
    CheckpointLocation location(Configuration conf) {
        return new CheckpointLocation(uri, conf);
    }

    /** The directory's store, for reading; an unreachable file system is an error about --checkpoint-dir. */
    CheckpointStore open(Configuration conf) {
        return LiveTrainException.about("--checkpoint-dir", () -> location(conf).open());
    }

    String uri() {
        return uri;
    }
}
