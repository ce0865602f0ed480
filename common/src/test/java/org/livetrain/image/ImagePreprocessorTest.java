package org.livetrain.image;

import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.MatVector;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import javax.imageio.ImageIO;

import static org.bytedeco.opencv.global.opencv_imgproc.GaussianBlur;
import static org.bytedeco.opencv.global.opencv_core.CV_16U;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.merge;
import static org.bytedeco.opencv.global.opencv_imgproc.LINE_8;
import static org.bytedeco.opencv.global.opencv_imgproc.rectangle;
import static org.bytedeco.opencv.global.opencv_core.bitwise_not;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.LINE_AA;
import static org.bytedeco.opencv.global.opencv_imgproc.line;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
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

    float[] reference() {
        Path p = dir.resolve("reference.png");
        imwrite(p.toString(), seven(200, 0, 0));
        return pre.file(p);
    }

    @Test
    void alphaIsFlattenedOntoTheBackground() {
        // black strokes, opaque, on a fully transparent (and also black) canvas: only alpha tells them apart
        Mat ink = seven(200, 0, 0);
        Mat black = new Mat(200, 200, CV_8UC1, new Scalar(0.0));
        MatVector planes = new MatVector(black, black, black, ink);
        Mat rgba = new Mat();
        merge(planes, rgba);
        Path p = dir.resolve("alpha.png");
        imwrite(p.toString(), rgba);
        double d = maxDiff(reference(), pre.file(p));
        assertTrue(d < 0.05, "max difference " + d);
    }

    @Test
    void sixteenBitGreyGivesTheSameTensor() {
        Mat sixteen = new Mat();
        seven(200, 0, 0).convertTo(sixteen, CV_16U, 257, 0);
        Path p = dir.resolve("deep.png");
        imwrite(p.toString(), sixteen);
        double d = maxDiff(reference(), pre.file(p));
        assertTrue(d < 0.01, "max difference " + d);
    }

    @Test
    void frameAndEdgeMarksDoNotChangeTheResult() {
        Mat framed = seven(200, 0, 0);
        rectangle(framed, new Point(1, 1), new Point(198, 198), new Scalar(255.0), 3, LINE_8, 0);
        line(framed, new Point(100, 0), new Point(100, 8), new Scalar(255.0), 2, LINE_8, 0);   // a tick mark at the top edge
        line(framed, new Point(0, 150), new Point(6, 150), new Scalar(255.0), 2, LINE_8, 0);   // and one at the left edge
        Path p = dir.resolve("framed.png");
        imwrite(p.toString(), framed);
        double d = maxDiff(reference(), pre.file(p));
        assertTrue(d < 0.05, "max difference " + d);
    }

    @Test
    void unevenlyLitPaperDoesNotBecomeInk() {
        // dark ink on paper whose brightness falls from 250 on the left to 120 on the right (a shadow)
        Mat paper = new Mat(200, 200, CV_8UC1);
        try (UByteIndexer ix = paper.createIndexer()) {
            for (int r = 0; r < 200; r++) for (int c = 0; c < 200; c++) ix.put(r, c, 250 - c * 130 / 200);
        }
        Mat ink = seven(200, 0, 0);
        Mat photo = new Mat();
        org.bytedeco.opencv.global.opencv_core.subtract(paper, ink, photo); // ink darkens the paper
        Path p = dir.resolve("photo.png");
        imwrite(p.toString(), photo);
        float[] x = pre.file(p), ref = reference();
        // the same figure, at most one pixel away (centre-of-mass rounding): the shadow added no ink
        double d = shiftedMeanDiff(ref, x);
        assertTrue(d < 0.03, "mean difference " + d);
        long lit = 0;
        for (float v : x) if (v > 0.1f) lit++;
        assertTrue(lit < 200, lit + " pixels lit: paper turned into ink");
    }

    /** Mean absolute difference of two 28x28 images, minimised over shifts of at most one pixel. */
    static double shiftedMeanDiff(float[] a, float[] b) {
        double best = Double.MAX_VALUE;
        for (int dr = -1; dr <= 1; dr++) {
            for (int dc = -1; dc <= 1; dc++) {
                double sum = 0;
                for (int r = 0; r < 28; r++) {
                    for (int c = 0; c < 28; c++) {
                        int rr = r + dr, cc = c + dc;
                        float vb = rr >= 0 && rr < 28 && cc >= 0 && cc < 28 ? b[rr * 28 + cc] : 0f;
                        sum += Math.abs(a[r * 28 + c] - vb);
                    }
                }
                best = Math.min(best, sum / 784);
            }
        }
        return best;
    }

    @Test
    void photoOfPaperOnATableWithBlurAndNoise() {
        // a sheet of paper lit from one side, lying on a dark table that shows along two edges,
        // photographed slightly out of focus with sensor noise
        Mat photo = new Mat(400, 400, CV_8UC1);
        Random rnd = new Random(3);
        try (UByteIndexer ix = photo.createIndexer()) {
            for (int r = 0; r < 400; r++) {
                for (int c = 0; c < 400; c++) {
                    boolean table = c < 40 || r > 370;
                    ix.put(r, c, table ? 40 : 235 - c * 90 / 400);
                }
            }
        }
        Mat ink = seven(200, 0, 0);
        Mat big = new Mat();
        org.bytedeco.opencv.global.opencv_imgproc.resize(ink, big, new Size(240, 240));
        Mat roi = new Mat(photo, new Rect(100, 80, 240, 240));
        org.bytedeco.opencv.global.opencv_core.subtract(roi, big, roi);
        GaussianBlur(photo, photo, new Size(5, 5), 1.2);
        try (UByteIndexer ix = photo.createIndexer()) {
            for (int r = 0; r < 400; r++) for (int c = 0; c < 400; c++) ix.put(r, c, Math.max(0, Math.min(255, ix.get(r, c) + (int) Math.round(rnd.nextGaussian() * 6))));
        }
        Path p = dir.resolve("photo-on-table.png");
        imwrite(p.toString(), photo);
        double d = shiftedMeanDiff(reference(), pre.file(p));
        assertTrue(d < 0.05, "mean difference " + d);
    }

    @Test
    void palettePngDecodes() throws Exception {
        // an indexed-colour PNG (ImageIO writes palettes; OpenCV does not): dark ink on light paper
        Mat ref = seven(200, 0, 0);
        BufferedImage img = new BufferedImage(200, 200, BufferedImage.TYPE_BYTE_INDEXED);
        try (UByteIndexer ix = ref.createIndexer()) {
            for (int r = 0; r < 200; r++) for (int c = 0; c < 200; c++) {
                int v = 255 - ix.get(r, c);
                img.setRGB(c, r, (v << 16) | (v << 8) | v);
            }
        }
        Path p = dir.resolve("palette.png");
        ImageIO.write(img, "png", p.toFile());
        double d = shiftedMeanDiff(reference(), pre.file(p));
        assertTrue(d < 0.05, "mean difference " + d);
    }

    @Test
    void otherFormatsDecode() {
        float[] ref = reference();
        for (String ext : new String[]{"bmp", "tif", "jpg"}) {
            Path p = dir.resolve("seven." + ext);
            imwrite(p.toString(), seven(200, 0, 0));
            double d = maxDiff(ref, pre.file(p));
            assertTrue(d < (ext.equals("jpg") ? 0.2 : 0.01), ext + ": max difference " + d);
        }
    }

    @Test
    void truncatedAndOversizedImagesAreRefused() throws Exception {
        for (String ext : new String[]{"png", "jpg"}) {
            Path whole = dir.resolve("whole." + ext);
            imwrite(whole.toString(), seven(200, 0, 0));
            byte[] b = Files.readAllBytes(whole);
            Path cut = dir.resolve("cut." + ext);
            Files.write(cut, Arrays.copyOf(b, b.length * 2 / 3));
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> pre.file(cut));
            assertTrue(e.getMessage().contains("cut." + ext) && e.getMessage().contains("truncated"), e.getMessage());
        }
        for (String ext : new String[]{"png", "jpg", "bmp"}) { // PNG's header is read directly, the others through ImageIO
            Path big = dir.resolve("big." + ext);
            imwrite(big.toString(), seven(200, 0, 0));
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> new ImagePreprocessor(10_000).file(big));
            assertTrue(e.getMessage().contains("big." + ext) && e.getMessage().contains("200x200 = 0.0 megapixels, above the limit"), e.getMessage());
        }
        Path big = dir.resolve("big.png");
        LiveTrainException e;
        // a header that declares 100000 x 100000 pixels is refused before anything is decoded
        byte[] b = Files.readAllBytes(big);
        ByteBuffer.wrap(b, 16, 8).putInt(100_000).putInt(100_000);
        Path bomb = Files.write(dir.resolve("bomb.png"), b);
        e = assertThrows(LiveTrainException.class, () -> pre.file(bomb));
        assertTrue(e.getMessage().contains("bomb.png") && e.getMessage().contains("above the limit"), e.getMessage());
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
