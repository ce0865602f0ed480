package org.livetrain.image;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A generated corpus of malformed image files (random bytes, truncations at many offsets, corrupted
 * bytes, headers that declare huge dimensions, empty files, degenerate sizes). Every file gives either
 * a well-formed tensor or a one-line error naming the file: never another exception, a crash, a hang
 * or an out-of-memory, and no file takes long.
 */
@Tag("fast")
class MalformedCorpusTest {
    @TempDir
    Path dir;

    final Random random = new Random(20261125);
    final List<Path> corpus = new ArrayList<>();

    Path add(String name, byte[] bytes) throws Exception {
        Path p = Files.write(dir.resolve(corpus.size() + "-" + name), bytes);
        corpus.add(p);
        return p;
    }

    byte[] encoded(String ext, Mat m) throws Exception {
        Path p = dir.resolve("source." + ext);
        assertTrue(imwrite(p.toString(), m), "wrote " + p);
        byte[] b = Files.readAllBytes(p);
        Files.delete(p);
        return b;
    }

    static int indexOf(byte[] b, int... marker) {
        outer:
        for (int i = 0; i + marker.length <= b.length; i++) {
            for (int k = 0; k < marker.length; k++) if ((b[i + k] & 0xff) != marker[k]) continue outer;
            return i;
        }
        return -1;
    }

    @Test
    void everyMalformedFileGivesATensorOrAOneLineErrorNamingIt() throws Exception {
        Mat digit = ImagePreprocessorTest.seven(28, 0, 0);
        Mat photo = new Mat(240, 320, CV_8UC3, new Scalar(200, 190, 180, 0));
        org.bytedeco.opencv.global.opencv_imgproc.line(photo, new Point(60, 40),
                new Point(200, 200), new Scalar(20, 20, 20, 0), 12, 8, 0);
        List<byte[]> sources = new ArrayList<>();
        for (String ext : new String[]{"png", "jpg", "bmp", "tiff"}) {
            sources.add(encoded(ext, digit));
            sources.add(encoded(ext, photo));
        }

        // random bytes, alone and behind the magic numbers of real formats
        byte[][] magics = {{}, {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, {(byte) 0xff, (byte) 0xd8, (byte) 0xff},
                {'B', 'M'}, {'I', 'I', 42, 0}, {'G', 'I', 'F', '8', '9', 'a'}};
        for (int i = 0; i < 300; i++) {
            byte[] magic = magics[i % magics.length];
            byte[] b = new byte[magic.length + random.nextInt(i < 150 ? 64 : 8192)];
            random.nextBytes(b);
            System.arraycopy(magic, 0, b, 0, magic.length);
            add("random", b);
        }
        // every source truncated at many offsets
        for (byte[] src : sources) {
            for (int k = 0; k < 50; k++) add("truncated", Arrays.copyOf(src, 1 + random.nextInt(src.length - 1)));
        }
        // every source with a few bytes overwritten past its signature
        for (byte[] src : sources) {
            for (int k = 0; k < 40; k++) {
                byte[] b = src.clone();
                for (int n = 1 + random.nextInt(8); n > 0; n--) b[8 + random.nextInt(b.length - 8)] = (byte) random.nextInt(256);
                add("corrupted", b);
            }
        }
        // headers declaring huge dimensions: decompression bombs
        int[][] dims = {{65535, 65535}, {100_000, 100_000}, {Integer.MAX_VALUE, 1}, {1, Integer.MAX_VALUE}, {-1, -1}, {0, 0}, {7072, 7072}};
        byte[] png = sources.get(0), jpg = sources.get(2), bmp = sources.get(4);
        for (int[] d : dims) {
            byte[] b = png.clone();
            ByteBuffer.wrap(b, 16, 8).putInt(d[0]).putInt(d[1]);
            add("bomb.png", b);
            b = bmp.clone();
            ByteBuffer.wrap(b, 18, 8).order(ByteOrder.LITTLE_ENDIAN).putInt(d[0]).putInt(d[1]);
            add("bomb.bmp", b);
            b = jpg.clone();
            int sof = indexOf(b, 0xff, 0xc0);
            assertTrue(sof > 0, "baseline JPEG frame header");
            ByteBuffer.wrap(b, sof + 5, 4).putShort((short) Math.min(d[1], 65535)).putShort((short) Math.min(d[0], 65535));
            add("bomb.jpg", b);
        }
        // empty files and degenerate sizes
        for (int i = 0; i < 5; i++) add("empty.png", new byte[0]);
        for (double v : new double[]{0, 128, 255}) {
            add("1x1.png", encoded("png", new Mat(1, 1, CV_8UC1, new Scalar(v))));
            add("65535x1.png", encoded("png", new Mat(1, 65535, CV_8UC1, new Scalar(v))));
            add("1x65535.png", encoded("png", new Mat(65535, 1, CV_8UC1, new Scalar(v))));
        }
        Mat stripe = new Mat(1, 65535, CV_8UC1, new Scalar(0.0));
        org.bytedeco.opencv.global.opencv_imgproc.line(stripe, new Point(30000, 0),
                new Point(30100, 0), new Scalar(255.0), 1, 8, 0);
        add("65535x1-ink.png", encoded("png", stripe));
        assertTrue(corpus.size() >= 1000, corpus.size() + " files");

        ImagePreprocessor pre = new ImagePreprocessor();
        int tensors = 0, errors = 0;
        long slowest = 0;
        Path slowestFile = null;
        for (Path p : corpus) {
            long t0 = System.nanoTime();
            try {
                float[] x = pre.file(p);
                assertEquals(ImagePreprocessor.SIZE * ImagePreprocessor.SIZE, x.length, p.toString());
                for (float v : x) assertTrue(v >= 0f && v <= 1f, p + ": pixel " + v);
                tensors++;
                String kind = p.getFileName().toString().replaceFirst("^[0-9]+-", "");
                if (kind.startsWith("random") || kind.startsWith("truncated") || kind.startsWith("bomb") || kind.startsWith("empty")) {
                    fail(p + ": a " + kind + " file must be refused, not turned into a tensor");
                }
            } catch (LiveTrainException e) {
                String m = e.getMessage();
                assertTrue(m.startsWith(p.toString() + ":"), "the error names the file: " + m);
                assertFalse(m.contains("\n"), "one line: " + m);
                errors++;
            } catch (Throwable t) {
                fail(p + ": " + t, t);
            }
            long ns = System.nanoTime() - t0;
            if (ns > slowest) {
                slowest = ns;
                slowestFile = p;
            }
        }
        // a hang guard, not a performance claim: the largest legitimate file here decodes in milliseconds
        assertTrue(slowest < 5_000_000_000L, "slowest file " + slowestFile + ": " + slowest / 1e6 + " ms");
        assertEquals(corpus.size(), tensors + errors);
        System.out.printf("malformed corpus: %d files, %d tensors, %d errors, slowest %.1f ms (%s)%n",
                corpus.size(), tensors, errors, slowest / 1e6, slowestFile.getFileName());
    }
}
