package org.livetrain.store;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.io.HadoopConf;

import java.io.Serializable;

/**
 * Where a checkpoint directory is, as one value that travels to executors: the location as the user gave it
 * (a local path or any Hadoop URI) and the Hadoop configuration that reaches it. {@link #open} gives the
 * directory's store, opened once for this value; {@link #create} also makes the directory, for the training
 * job. Every command, trainer and scorer takes this value rather than a path and a configuration apart.
 */
public final class CheckpointLocation implements Serializable {
    private static final long serialVersionUID = 1L;
    private final String uri;
    private final HadoopConf conf;
    private transient volatile CheckpointStore store;

    public CheckpointLocation(String uri, Configuration conf) {
        this.uri = uri;
        this.conf = new HadoopConf(conf);
    }

    /** The location as the user gave it. */
    public String uri() {
        return uri;
    }

    public Configuration conf() {
        return conf.get();
    }

    /** The directory's store, for reading; it need not exist yet. */
    public CheckpointStore open() {
        CheckpointStore s = store;
        if (s == null) store = s = CheckpointStore.open(uri, conf.get());
        return s;
    }

    /** The directory's store, for the training job: created, and proved writable. */
    public CheckpointStore create() {
        return store = CheckpointStore.create(uri, conf.get());
    }

    @Override
    public String toString() {
        return uri;
    }
}
