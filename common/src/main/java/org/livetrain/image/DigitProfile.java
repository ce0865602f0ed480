package org.livetrain.image;

import org.bytedeco.javacpp.indexer.IntIndexer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;
import org.livetrain.LiveTrainException;

import java.util.Arrays;

import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_32S;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_imgproc.*;

/**
 * {@link Profile#DIGIT}: a picture of one handwritten digit becomes what MNIST was made of. Ink made bright
 * on black (the median grey level decides the polarity), background flattened (a morphological top-hat:
 * uneven light, shadows), ink separated (Otsu), specks and pieces touching the border (frames, tick marks,
 * a table around the sheet) dropped when something else is there, cropped to the ink, the longer side
 * scaled into a box of 20/28 of the input, values normalised to the ink's 98th percentile, and placed with
 * its centre of mass in the middle.
 *
 * <p>An image that already is such an input (the input's size, grey, its ink off the outer rows and
 * columns, as in MNIST's own files) goes through unchanged but for polarity: the data set's own images,
 * exported as files, are answered exactly as the network saw them in training.
 */
final class DigitProfile {
    /** MNIST's box for the digit in a 28x28 field. */
    static final int BOX = 20;
    /** Images are reduced to this longer side before the ink is separated: plenty for a 20x20 result. */
    private static final int WORK_SIDE = 448;

    private DigitProfile() {
    }

    static float[] prepare(Mat img, InputContract c, String name) {
        Mat gray = Pixels.grayscale(Pixels.reduce(img, WORK_SIDE));
        float[] g = inkBright(Pixels.floats(gray));
        if (gray.rows() == c.height() && gray.cols() == c.width() && Pixels.borderMax(g, c.height(), c.width(), 1) < 0.35f) return g;
        Mat flat = flattenBackground(Pixels.mat(g, gray.rows(), gray.cols()));
        Mat mask = inkMask(flat, name);
        int[] box = keepInk(mask, name);
        return place(flat, mask, box, c.height(), c.width());
    }

    /**
     * Inverts dark-on-light images. The background is what most of the image is (ink covers a small part
     * of it), so the median grey level decides; the edges alone would be fooled by a table or a frame.
     */
    private static float[] inkBright(float[] g) {
        if (Pixels.median(g) > 0.5f) Pixels.invert(g);
        return g;
    }

    /**
     * Removes slowly varying background (uneven lighting, shadows on paper) with a morphological top-hat
     * whose element is wider than any stroke.
     */
    private static Mat flattenBackground(Mat ink) {
        int k = Math.max(15, Math.min(ink.rows(), ink.cols()) / 6) | 1;
        Mat out = new Mat();
        morphologyEx(ink, out, MORPH_TOPHAT, getStructuringElement(MORPH_RECT, new Size(k, k)));
        return out;
    }

    /** Ink = Otsu threshold of the flattened image; refuses an image without contrast. */
    private static Mat inkMask(Mat flat, String name) {
        double[] minMax = minMax(flat);
        if (minMax[1] - minMax[0] < 0.08) throw new LiveTrainException(name + ": no ink found (the image has no contrast)");
        Mat u8 = new Mat();
        flat.convertTo(u8, CV_8U, 255.0 / minMax[1], 0);
        Mat mask = new Mat();
        threshold(u8, mask, 0, 255, THRESH_BINARY | THRESH_OTSU);
        return mask;
    }

    /**
     * Keeps the connected pieces of ink that make up the figure: drops specks, and pieces touching the
     * edge (frames, tick marks, the table around a sheet of paper) when something else is there.
     * Returns the bounding box {x0, y0, x1, y1} (exclusive ends) and clears dropped pieces from the mask.
     */
    private static int[] keepInk(Mat mask, String name) {
        Mat labels = new Mat(), stats = new Mat(), centroids = new Mat();
        int n = connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
        int rows = mask.rows(), cols = mask.cols();
        boolean[] keep = new boolean[n];
        int[][] st = new int[n][5];
        try (IntIndexer s = stats.createIndexer()) {
            for (int i = 1; i < n; i++) for (int j = 0; j < 5; j++) st[i][j] = s.get(i, j);
        }
        int largestInner = 0;
        for (int i = 1; i < n; i++) {
            if (!touchesEdge(st[i], rows, cols)) largestInner = Math.max(largestInner, st[i][CC_STAT_AREA]);
        }
        int largestAny = 0;
        for (int i = 1; i < n; i++) largestAny = Math.max(largestAny, st[i][CC_STAT_AREA]);
        int reference = largestInner > 0 ? largestInner : largestAny;
        int x0 = cols, y0 = rows, x1 = 0, y1 = 0;
        for (int i = 1; i < n; i++) {
            boolean edge = touchesEdge(st[i], rows, cols);
            keep[i] = st[i][CC_STAT_AREA] >= 0.05 * reference && (!edge || largestInner == 0);
            if (!keep[i]) continue;
            x0 = Math.min(x0, st[i][CC_STAT_LEFT]);
            y0 = Math.min(y0, st[i][CC_STAT_TOP]);
            x1 = Math.max(x1, st[i][CC_STAT_LEFT] + st[i][CC_STAT_WIDTH]);
            y1 = Math.max(y1, st[i][CC_STAT_TOP] + st[i][CC_STAT_HEIGHT]);
        }
        if (x1 <= x0 || y1 <= y0) throw new LiveTrainException(name + ": no ink found");
        try (IntIndexer l = labels.createIndexer(); UByteIndexer m = mask.createIndexer()) {
            for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) if (!keep[l.get(r, c)]) m.put(r, c, 0);
        }
        return new int[]{x0, y0, x1, y1};
    }

    private static boolean touchesEdge(int[] st, int rows, int cols) {
        return st[CC_STAT_LEFT] == 0 || st[CC_STAT_TOP] == 0
                || st[CC_STAT_LEFT] + st[CC_STAT_WIDTH] >= cols || st[CC_STAT_TOP] + st[CC_STAT_HEIGHT] >= rows;
    }

    /** Crop, scale into the box, normalise the ink, centre by centre of mass in the input. */
    private static float[] place(Mat flat, Mat mask, int[] box, int rows, int cols) {
        int side = Math.min(rows, cols), boxSide = Math.max(1, Math.round(side * BOX / (float) ImagePreprocessor.SIZE));
        int w = box[2] - box[0], h = box[3] - box[1];
        // ink values near the kept pieces only (a small dilation keeps anti-aliased edges)
        Mat near = new Mat();
        dilate(mask, near, getStructuringElement(MORPH_ELLIPSE, new Size(3, 3)));
        Mat cleaned = new Mat(flat.size(), CV_32F, new Scalar(0.0));
        flat.copyTo(cleaned, near);
        Mat crop = new Mat(cleaned, new Rect(box[0], box[1], w, h)).clone();
        double s = (double) boxSide / Math.max(w, h);
        int nw = Math.max(1, (int) Math.round(w * s)), nh = Math.max(1, (int) Math.round(h * s));
        Mat small = new Mat();
        resize(crop, small, new Size(nw, nh), 0, 0, s < 1 ? INTER_AREA : INTER_LINEAR);
        float[] px = Pixels.floats(small);
        float peak = percentile(px, 0.98f);
        if (peak <= 0) peak = 1;
        double mass = 0, mr = 0, mc = 0;
        for (int r = 0; r < nh; r++) {
            for (int c = 0; c < nw; c++) {
                float v = Math.min(1f, Math.max(0f, px[r * nw + c] / peak));
                px[r * nw + c] = v;
                mass += v;
                mr += v * r;
                mc += v * c;
            }
        }
        double comR = mass > 0 ? mr / mass : (nh - 1) / 2.0, comC = mass > 0 ? mc / mass : (nw - 1) / 2.0;
        // shift so that the centre of mass lands on the centre of the field, keeping the box inside
        int offR = clamp((int) Math.round((rows - 1) / 2.0 - comR), 0, rows - nh);
        int offC = clamp((int) Math.round((cols - 1) / 2.0 - comC), 0, cols - nw);
        float[] out = new float[rows * cols];
        for (int r = 0; r < nh; r++) System.arraycopy(px, r * nw, out, (r + offR) * cols + offC, nw);
        return out;
    }

    private static int clamp(int v, int lo, int hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    private static float percentile(float[] v, float q) {
        float[] nz = new float[v.length];
        int n = 0;
        for (float x : v) if (x > 0) nz[n++] = x;
        if (n == 0) return 0;
        float[] s = Arrays.copyOf(nz, n);
        Arrays.sort(s);
        return s[Math.min(n - 1, (int) (q * n))];
    }

    private static double[] minMax(Mat m) {
        float[] v = Pixels.floats(m);
        double lo = Double.MAX_VALUE, hi = -Double.MAX_VALUE;
        for (float x : v) {
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
        }
        return new double[]{lo, hi};
    }
}
