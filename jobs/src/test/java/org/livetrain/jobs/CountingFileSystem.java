package org.livetrain.jobs;

import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

import java.io.IOException;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The local file system under the scheme {@code counting:}, counting how often each file is opened: what a
 * job costs an object store in requests. Spark's local mode runs the executors in the test's JVM, so the counts
 * are read here. {@code --conf spark.hadoop.fs.counting.impl=org.livetrain.jobs.CountingFileSystem}.
 */
public class CountingFileSystem extends RawLocalFileSystem {
    static final Map<String, AtomicInteger> OPENS = new ConcurrentHashMap<>();

    @Override
    public URI getUri() {
        return URI.create("counting:///");
    }

    @Override
    public String getScheme() {
        return "counting";
    }

    @Override
    public FSDataInputStream open(Path f, int bufferSize) throws IOException {
        OPENS.computeIfAbsent(Path.getPathWithoutSchemeAndAuthority(f).toString(), k -> new AtomicInteger()).incrementAndGet();
        return super.open(f, bufferSize);
    }
}
