package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imencode;

/** The bundled digits as PNG files on any Hadoop file system, laid out as a user would: {@code ROOT/<digit>/<index>.png}. */
final class DigitFiles {
    private DigitFiles() {
    }

    /**
     * The first {@code n} bundled digits under {@code root}, 8 files at a time (closing a file on HDFS waits
     * for the name node); returns how many were written.
     */
    static int write(FileSystem fs, Path root, int n) throws Exception {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        ExecutorService writers = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> written = new ArrayList<>();
            for (Iterator<LabeledImage> it = digits.pool().read(idx); it.hasNext(); ) {
                LabeledImage e = it.next();
                byte[] png = png(e.pixels());
                written.add(writers.submit(() -> {
                    try (FSDataOutputStream out = fs.create(new Path(root, e.label() + "/" + e.index() + ".png"))) {
                        out.write(png);
                    }
                    return null;
                }));
            }
            for (Future<?> f : written) f.get();
            return written.size();
        } finally {
            writers.shutdownNow();
        }
    }

    /** The first {@code n} digits under {@code root} on HDFS, and at {@code broken} a file that is not an image; returns {@code n}. */
    static int writeWithABrokenOne(Path root, int n, String broken) throws Exception {
        try (FileSystem fs = FileSystem.newInstance(root.toUri(), quickClose())) {
            int written = write(fs, root, n);
            try (FSDataOutputStream out = fs.create(new Path(root, broken))) {
                out.write("an upload that stopped half way".getBytes(StandardCharsets.UTF_8));
            }
            return written;
        }
    }

    /** A client configuration for writing many small files to a test cluster: HDFS's close polls from 400 ms on by default. */
    static Configuration quickClose() {
        Configuration c = new Configuration();
        c.setInt("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 5);
        return c;
    }

    private static byte[] png(float[] pixels) {
        Mat m = new Mat(28, 28, CV_8UC1);
        try (UByteIndexer ix = m.createIndexer()) {
            for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(pixels[p] * 255));
        }
        try (BytePointer buf = new BytePointer()) {
            if (!imencode(".png", m, buf)) throw new IllegalStateException("PNG encoding failed");
            byte[] b = new byte[(int) buf.limit()];
            buf.get(b);
            return b;
        }
    }
}
