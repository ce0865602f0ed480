package org.livetrain.kafka;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;
import org.livetrain.serving.Promoter;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.Optional;

/**
 * {@code QUERY_CHECKPOINT/promotion.json}: what the Kafka scorer of that query decided last, so that a restarted
 * scorer answers with the model it promoted rather than with whatever best.json names (which may be the
 * candidate it refused). Spark leaves files of other names in a query checkpoint alone.
 * <pre>
 * {"serving": {pointer, as best.json holds it}, "refused_sha256": "..." or null}
 * </pre>
 * Whoever can write the query checkpoint can name any checkpoint of the model directory here, as they could
 * rewrite the offsets: the pointer is loaded like best.json's (its path a checkpoint of the directory, its
 * checksum verified), and the file is read only up to 64 KiB.
 */
public final class PromotionFile {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final long MAX_BYTES = 64 << 10;

    private final Path file;
    private final Configuration conf;

    public PromotionFile(String queryCheckpoint, Configuration conf) {
        this.file = new Path(Storage.path(queryCheckpoint), "promotion.json");
        this.conf = conf;
    }

    /** The state saved last; empty when none was (a scorer's first start) or the file is not one (said in the message of a refusal). */
    public Optional<Promoter.State> read() {
        try {
            FileSystem fs = Storage.fs(file, conf);
            return Optional.of(JSON.readValue(Storage.readAll(fs, file, MAX_BYTES), Promoter.State.class));
        } catch (FileNotFoundException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new LiveTrainException(file + ": not a promotion state this scorer can take up (" + Storage.firstLine(e) + "); remove it to start from best.json");
        }
    }

    public void write(Promoter.State s) {
        try {
            FileSystem fs = Storage.fs(file, conf);
            fs.mkdirs(file.getParent());
            Storage.writeAtomically(fs, file, JSON.writeValueAsBytes(s), conf);
        } catch (IOException e) {
            throw Storage.problem(file + ": cannot write", e);
        }
    }

    @Override
    public String toString() {
        return file.toString();
    }
}
