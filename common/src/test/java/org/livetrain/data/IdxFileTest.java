package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.image.Shape;
import org.livetrain.LiveTrainException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
class IdxFileTest {
    static final Configuration CONF = new Configuration();

    @TempDir
    Path dir;

    /** Writes a pair of IDX files with random images and labels; returns the image bytes. */
    static byte[] writePair(Path dir, String prefix, int n, int rows, int cols, boolean gzip, long seed) throws IOException {
        Random r = new Random(seed);
        byte[] images = new byte[n * rows * cols];
        r.nextBytes(images);
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte) (i % 10);
        String gz = gzip ? ".gz" : "";
        try (OutputStream out = Files.newOutputStream(dir.resolve(prefix + "-images-idx3-ubyte" + gz))) {
            IdxFile.write(out, new int[]{n, rows, cols}, images, gzip);
        }
        try (OutputStream out = Files.newOutputStream(dir.resolve(prefix + "-labels-idx1-ubyte" + gz))) {
            IdxFile.write(out, new int[]{n}, labels, gzip);
        }
        return images;
    }

    @Test
    void roundTripGzippedAndPlain() throws IOException {
        for (boolean gzip : new boolean[]{true, false}) {
            Path d = Files.createDirectories(dir.resolve(gzip ? "gz" : "plain"));
            byte[] images = writePair(d, "all", 50, 28, 28, gzip, 7);
            Dataset ds = Dataset.open("idx:" + d, CONF);
            assertEquals(50, ds.pool().size());
            assertEquals(new Shape(28, 28, 1), ds.shape());
            assertEquals(10, ds.numClasses());
            int[] wanted = {0, 3, 4, 49};
            Iterator<LabeledImage> it = ds.pool().read(wanted);
            List<LabeledImage> got = new ArrayList<>();
            it.forEachRemaining(got::add);
            assertEquals(4, got.size());
            for (int k = 0; k < wanted.length; k++) {
                LabeledImage e = got.get(k);
                assertEquals(wanted[k], e.index());
                assertEquals(wanted[k] % 10, e.label());
                float[] expected = new float[784];
                for (int p = 0; p < 784; p++) expected[p] = (images[wanted[k] * 784 + p] & 0xff) / 255f;
                assertArrayEquals(expected, e.pixels(), "pixels of item " + wanted[k] + (gzip ? " (gzip)" : ""));
            }
        }
    }

    @Test
    void mnistNamesGiveSeparateTestPool() throws IOException {
        writePair(dir, "train", 100, 28, 28, true, 1);
        writePair(dir, "t10k", 30, 28, 28, false, 2);
        Dataset ds = Dataset.open("idx:" + dir, CONF);
        assertEquals(100, ds.pool().size());
        assertEquals(30, ds.testSource().size());
        Split s = ds.split(Split.DEFAULT_SEED);
        assertEquals(30, s.test().length);
        assertEquals(100, s.train().length + s.dev().length);
    }

    @Test
    void truncatedImagesAreRefusedWithTheFileName() throws IOException {
        for (boolean gzip : new boolean[]{true, false}) {
            Path d = Files.createDirectories(dir.resolve(gzip ? "gz" : "plain"));
            writePair(d, "x", 20, 28, 28, gzip, 3);
            Path images = d.resolve("x-images-idx3-ubyte" + (gzip ? ".gz" : ""));
            byte[] all = Files.readAllBytes(images);
            Files.write(images, Arrays.copyOf(all, all.length * 2 / 3));
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + d, CONF));
            assertTrue(e.getMessage().contains(images.getFileName().toString()), e.getMessage());
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        }
    }

    @Test
    void badMagicNumberIsRefused() throws IOException {
        writePair(dir, "x", 5, 28, 28, false, 4);
        Path images = dir.resolve("x-images-idx3-ubyte");
        byte[] b = Files.readAllBytes(images);
        b[2] = 0x0D; // float data instead of unsigned bytes
        Files.write(images, b);
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir, CONF));
        assertTrue(e.getMessage().contains("x-images-idx3-ubyte"), e.getMessage());
        assertTrue(e.getMessage().contains("magic number 0x00000d03"), e.getMessage());
    }

    @Test
    void labelsFileWithImageMagicIsRefused() throws IOException {
        writePair(dir, "x", 5, 28, 28, false, 5);
        Files.copy(dir.resolve("x-images-idx3-ubyte"), dir.resolve("x-labels-idx1-ubyte"), StandardCopyOption.REPLACE_EXISTING);
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir, CONF));
        assertTrue(e.getMessage().contains("x-labels-idx1-ubyte") && e.getMessage().contains("3 dimensions"), e.getMessage());
    }

    @Test
    void countMismatchAndTrailingDataAreRefused() throws IOException {
        writePair(dir, "x", 10, 28, 28, false, 6);
        ByteArrayOutputStream lab = new ByteArrayOutputStream();
        IdxFile.write(lab, new int[]{9}, new byte[9], false);
        Files.write(dir.resolve("x-labels-idx1-ubyte"), lab.toByteArray());
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir, CONF));
        assertTrue(e.getMessage().contains("10 images") && e.getMessage().contains("9 labels"), e.getMessage());

        writePair(dir, "x", 10, 28, 28, false, 6);
        Path images = dir.resolve("x-images-idx3-ubyte");
        Files.write(images, new byte[]{1, 2, 3}, StandardOpenOption.APPEND);
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir, CONF));
        assertTrue(e.getMessage().contains("data after the 10 items"), e.getMessage());
    }

    @Test
    void emptyAndMissingInputsAreRefused() throws IOException {
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir.resolve("nope"), CONF));
        assertTrue(e.getMessage().contains("no such folder"), e.getMessage());
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir, CONF));
        assertTrue(e.getMessage().contains("no pair of IDX files"), e.getMessage());
        Files.write(dir.resolve("x-images-idx3-ubyte"), new byte[0]);
        Files.write(dir.resolve("x-labels-idx1-ubyte"), new byte[0]);
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("idx:" + dir, CONF));
        assertTrue(e.getMessage().contains("not an IDX file"), e.getMessage());
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("mnist-please", CONF));
        assertTrue(e.getMessage().contains("unknown data spec"), e.getMessage());
    }
}
