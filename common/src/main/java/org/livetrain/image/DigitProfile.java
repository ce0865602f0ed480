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
     * Removes the background. An even one (the lower half of its grey levels, below Otsu's threshold, spread
     * over less than {@value #EVEN}) is subtracted as one level, so that strokes of any thickness stay whole; an uneven one
     * (light falling off across a sheet, a shadow) is removed with a morphological top-hat whose element is
     * wider than a stroke.
     */
    private static Mat flattenBackground(Mat ink) {
        float[] g = Pixels.floats(ink);
        float[] background = below(g, otsu(g));
        Arrays.sort(background);
        if (background.length > 0) {
            // the lower half of the background only: its upper half holds the anti-aliased edges of the strokes
            float lo = background[(int) (0.05 * (background.length - 1))], hi = background[(int) (0.5 * (background.length - 1))];
            if (hi - lo < EVEN) {
                float level = background[background.length / 2];
                for (int i = 0; i < g.length; i++) g[i] = Math.max(0f, g[i] - level);
                return Pixels.mat(g, ink.rows(), ink.cols());
            }
        }
        int k = Math.max(15, Math.min(ink.rows(), ink.cols()) / 6) | 1;
        Mat out = new Mat();
        morphologyEx(ink, out, MORPH_TOPHAT, getStructuringElement(MORPH_RECT, new Size(k, k)));
        return out;
    }

    /** How far an even background's grey levels may spread (5th percentile to the median). */
    static final float EVEN = 0.1f;

    /** Otsu's threshold of values in [0,1], on 256 levels. */
    static float otsu(float[] g) {
        int[] h = new int[256];
        for (float v : g) h[Math.max(0, Math.min(255, Math.round(v * 255)))]++;
        double sum = 0;
        for (int i = 0; i < 256; i++) sum += (double) i * h[i];
        double sumB = 0, best = -1;
        int wB = 0, threshold = 0;
        for (int t = 0; t < 256; t++) {
            wB += h[t];
            if (wB == 0) continue;
            int wF = g.length - wB;
            if (wF == 0) break;
            sumB += (double) t * h[t];
            double mB = sumB / wB, mF = (sum - sumB) / wF, between = (double) wB * wF * (mB - mF) * (mB - mF);
            if (between > best) {
                best = between;
                threshold = t;
            }
        }
        return threshold / 255f;
    }

    private static float[] below(float[] g, float threshold) {
        float[] out = new float[g.length];
        int n = 0;
        for (float v : g) if (v <= threshold) out[n++] = v;
        return Arrays.copyOf(out, n);
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
     * Keeps the connected pieces of ink that make up the figure: drops specks, and what is not a stroke but
     * the surroundings of the digit, told apart by its shape: a frame or the table around a sheet (a piece that
     * covers at least a quarter of the image's border) and a ruled line or a tick (a piece touching the border
     * that spans most of the image one way and is thin the other way), as long as other ink remains. A digit
     * cropped tightly, its strokes touching the border here and there, is kept whole. Returns the bounding box
     * {x0, y0, x1, y1} (exclusive ends) and clears dropped pieces from the mask.
     */
    private static int[] keepInk(Mat mask, String name) {
        Mat labels = new Mat(), stats = new Mat(), centroids = new Mat();
        int n = connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
        int rows = mask.rows(), cols = mask.cols();
        int[][] st = new int[n][5];
        try (IntIndexer s = stats.createIndexer()) {
            for (int i = 1; i < n; i++) for (int j = 0; j < 5; j++) st[i][j] = s.get(i, j);
        }
        int[] border = borderPixels(labels, n, rows, cols);
        int inner = 0; // the largest piece off the border, if any: the figure that pieces on the border must belong to
        for (int i = 1; i < n; i++) if (border[i] == 0 && st[i][CC_STAT_AREA] > st[inner][CC_STAT_AREA]) inner = i;
        boolean[] surroundings = new boolean[n];
        int largestFigure = 0;
        for (int i = 1; i < n; i++) {
            surroundings[i] = border[i] > 0 && (border[i] >= (rows + cols) / 2 || isLine(st[i], rows, cols) || (inner > 0 && !near(st[i], st[inner])));
            if (!surroundings[i]) largestFigure = Math.max(largestFigure, st[i][CC_STAT_AREA]);
        }
        boolean[] keep = new boolean[n];
        int x0 = cols, y0 = rows, x1 = 0, y1 = 0;
        for (int i = 1; i < n; i++) {
            // with nothing but surroundings, keep them: a figure that is all border is still better than nothing
            keep[i] = largestFigure == 0 ? true : !surroundings[i] && st[i][CC_STAT_AREA] >= 0.05 * largestFigure;
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

    /** How many of the image's outermost pixels each piece covers. */
    private static int[] borderPixels(Mat labels, int n, int rows, int cols) {
        int[] count = new int[n];
        try (IntIndexer l = labels.createIndexer()) {
            for (int c = 0; c < cols; c++) {
                count[l.get(0, c)]++;
                if (rows > 1) count[l.get(rows - 1, c)]++;
            }
            for (int r = 1; r < rows - 1; r++) {
                count[l.get(r, 0)]++;
                if (cols > 1) count[l.get(r, cols - 1)]++;
            }
        }
        return count;
    }

    /** A ruled line: spanning 90% of the image one way, and thinner than a tenth of it the other way. */
    private static boolean isLine(int[] st, int rows, int cols) {
        int w = st[CC_STAT_WIDTH], h = st[CC_STAT_HEIGHT], area = st[CC_STAT_AREA];
        return (w >= 0.9 * cols && area / (double) w < 0.1 * rows) || (h >= 0.9 * rows && area / (double) h < 0.1 * cols);
    }

    /**
     * Whether a piece belongs with the figure: at least half of its bounding box within the figure's, grown by
     * a quarter of its size on every side (a stroke broken off the digit does; a shadow or a table does not).
     */
    private static boolean near(int[] piece, int[] figure) {
        int gx = figure[CC_STAT_WIDTH] / 4, gy = figure[CC_STAT_HEIGHT] / 4;
        int fx0 = figure[CC_STAT_LEFT] - gx, fy0 = figure[CC_STAT_TOP] - gy;
        int fx1 = figure[CC_STAT_LEFT] + figure[CC_STAT_WIDTH] + gx, fy1 = figure[CC_STAT_TOP] + figure[CC_STAT_HEIGHT] + gy;
        long ox = Math.max(0, Math.min(fx1, piece[CC_STAT_LEFT] + piece[CC_STAT_WIDTH]) - Math.max(fx0, piece[CC_STAT_LEFT]));
        long oy = Math.max(0, Math.min(fy1, piece[CC_STAT_TOP] + piece[CC_STAT_HEIGHT]) - Math.max(fy0, piece[CC_STAT_TOP]));
        return ox * oy * 2 >= (long) piece[CC_STAT_WIDTH] * piece[CC_STAT_HEIGHT];
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
        int grey = 0, inked = 0;
        for (float x : px) {
            float v = x / peak;
            if (v > 0.05f) inked++;
            if (v > 0.1f && v < 0.9f) grey++;
        }
        // a blurred digit (a small scan enlarged) is mostly grey: its halo is cut and its strokes sharpened to MNIST's
        boolean blurred = inked > 0 && grey > 0.6 * inked;
        double mass = 0, mr = 0, mc = 0;
        for (int r = 0; r < nh; r++) {
            for (int c = 0; c < nw; c++) {
                float v = px[r * nw + c] / peak;
                if (blurred) v = (v - 0.3f) / 0.4f;
                v = Math.min(1f, Math.max(0f, v));
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
