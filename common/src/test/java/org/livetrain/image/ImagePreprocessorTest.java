package org.livetrain.image;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.bitwise_not;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.LINE_AA;
import static org.bytedeco.opencv.global.opencv_imgproc.line;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImagePreprocessorTest {
    @TempDir
    Path dir;

    final ImagePreprocessor pre = new ImagePreprocessor();

    /** A "7" drawn with OpenCV, white on black, at an offset in a larger canvas. */
    static Mat seven(int size, int dx, int dy) {
        Mat m = new Mat(size, size, CV_8UC1, new Scalar(0.0));
        int t = Math.max(2, size / 20);
        line(m, new Point(dx + size / 5, dy + size / 5), new Point(dx + size / 2, dy + size / 5), new Scalar(255.0), t, LINE_AA, 0);
        line(m, new Point(dx + size / 2, dy + size / 5), new Point(dx + size / 3, dy + size / 2), new Scalar(255.0), t, LINE_AA, 0);
        return m;
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static double[] centreOfMass(float[] px) {
        double m = 0, r = 0, c = 0;
        for (int i = 0; i < px.length; i++) {
            m += px[i];
            r += px[i] * (i / 28);
            c += px[i] * (i % 28);
        }
        return new double[]{r / m, c / m};
    }

    @Test
    void lightOnDarkAndDarkOnLightGiveTheSameTensor() {
        Mat light = seven(200, 0, 0);
        Mat dark = new Mat();
        bitwise_not(light, dark);
        Path a = dir.resolve("light.png"), b = dir.resolve("dark.png");
        imwrite(a.toString(), light);
        imwrite(b.toString(), dark);
        float[] x = pre.file(a), y = pre.file(b);
        assertEquals(784, x.length);
        assertTrue(maxDiff(x, y) < 0.02, "max difference " + maxDiff(x, y));
    }

    @Test
    void offCentreFigureIsCentredByItsCentreOfMass() {
        Path p = dir.resolve("corner.png");
        imwrite(p.toString(), seven(300, 120, 140));
        float[] x = pre.file(p);
        double[] com = centreOfMass(x);
        assertEquals(13.5, com[0], 1.0);
        assertEquals(13.5, com[1], 1.0);
        // the figure was scaled so that its longer side fills the 20x20 box, as MNIST's digits were
        int r0 = 28, r1 = -1, c0 = 28, c1 = -1;
        for (int i = 0; i < 784; i++) {
            if (x[i] <= 0) continue;
            r0 = Math.min(r0, i / 28);
            r1 = Math.max(r1, i / 28);
            c0 = Math.min(c0, i % 28);
            c1 = Math.max(c1, i % 28);
        }
        int h = r1 - r0 + 1, w = c1 - c0 + 1;
        assertTrue(Math.max(h, w) == 20 && Math.min(h, w) <= 20, "ink box " + w + "x" + h);
    }

    @Test
    void refusalsNameTheFile() throws Exception {
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> pre.file(dir.resolve("missing.png")));
        assertTrue(e.getMessage().contains("missing.png") && e.getMessage().contains("no such file"), e.getMessage());
        e = assertThrows(LiveTrainException.class, () -> pre.file(dir));
        assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
        Path text = Files.writeString(dir.resolve("notes.png"), "not an image at all");
        e = assertThrows(LiveTrainException.class, () -> pre.file(text));
        assertTrue(e.getMessage().contains("notes.png") && e.getMessage().contains("not an image"), e.getMessage());
        Path blank = dir.resolve("blank.png");
        imwrite(blank.toString(), new Mat(50, 50, CV_8UC1, new Scalar(255.0)));
        e = assertThrows(LiveTrainException.class, () -> pre.file(blank));
        assertTrue(e.getMessage().contains("blank.png") && e.getMessage().contains("no ink"), e.getMessage());
    }
}
