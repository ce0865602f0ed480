package org.livetrain.image;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;
import org.livetrain.LiveTrainException;

import java.util.Arrays;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

/**
 * {@link Profile#OBJECT}: a product photo or drawing on a plain background becomes what Fashion-MNIST was
 * made of. The background is what the border mostly is; a light background is inverted so that the object
 * is bright on dark; the background is removed as a plane fitted to the border (even light, or light falling
 * off across the photo); the object is trimmed to where it differs from the background, its longer side scaled
 * to the input's (keeping the aspect ratio), centred, and its values stretched so that its brightest part
 * is 1. An image of the input's size goes through unchanged but for polarity: the data set's own images,
 * exported as files, are answered exactly as the network saw them in training.
 */
final class ObjectProfile {
    private static final int WORK_SIDE = 448;
    /** How far from the background a pixel must be to count as the object, as a share of the largest difference. */
    private static final float OBJECT = 0.12f;

    private ObjectProfile() {
    }

    static float[] prepare(Mat img, InputContract c, String name) {
        Mat gray = Pixels.grayscale(Pixels.reduce(img, WORK_SIDE));
        int rows = gray.rows(), cols = gray.cols();
        float[] g = Pixels.floats(gray);
        float background = borderMedian(g, rows, cols);
        if (background > 0.5f) {
            Pixels.invert(g);
            background = 1f - background;
        }
        if (rows == c.height() && cols == c.width()) return g;
        // the background as a plane fitted to the border: even light, or light falling off across the photo
        double[] plane = borderPlane(g, rows, cols);
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < cols; col++) g[r * cols + col] = (float) Math.max(0, g[r * cols + col] - (plane[0] + plane[1] * r + plane[2] * col));
        }
        float max = 0;
        for (float v : g) max = Math.max(max, v);
        if (max < 0.08f) throw new LiveTrainException(name + ": no object found (the image has no contrast)");
        int[] box = bounds(g, rows, cols, OBJECT * max);
        return place(Pixels.mat(g, rows, cols), box, c.height(), c.width());
    }

    /** The median of the outer rows and columns (a band of 2% of the shorter side, at least one pixel). */
    private static float borderMedian(float[] g, int rows, int cols) {
        int ring = Math.max(1, Math.min(rows, cols) / 50);
        float[] band = new float[g.length];
        int n = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                if (r >= ring && r < rows - ring && c >= ring && c < cols - ring) continue;
                band[n++] = g[r * cols + c];
            }
        }
        return Pixels.median(Arrays.copyOf(band, n));
    }

    /** The least-squares plane {a, b, c} (value = a + b row + c column) through the outer band of pixels. */
    private static double[] borderPlane(float[] g, int rows, int cols) {
        int ring = Math.max(1, Math.min(rows, cols) / 50);
        double[][] m = new double[3][3];
        double[] v = new double[3];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                if (r >= ring && r < rows - ring && c >= ring && c < cols - ring) continue;
                double[] x = {1, r, c};
                for (int i = 0; i < 3; i++) {
                    v[i] += x[i] * g[r * cols + c];
                    for (int j = 0; j < 3; j++) m[i][j] += x[i] * x[j];
                }
            }
        }
        return solve(m, v);
    }

    /** Solves a 3x3 system by Cramer's rule; a singular one (a one-pixel image) gives the mean as a constant. */
    private static double[] solve(double[][] m, double[] v) {
        double d = det(m);
        if (Math.abs(d) < 1e-9) return new double[]{m[0][0] == 0 ? 0 : v[0] / m[0][0], 0, 0};
        double[] out = new double[3];
        for (int k = 0; k < 3; k++) {
            double[][] mk = {m[0].clone(), m[1].clone(), m[2].clone()};
            for (int i = 0; i < 3; i++) mk[i][k] = v[i];
            out[k] = det(mk) / d;
        }
        return out;
    }

    private static double det(double[][] m) {
        return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    }

    /** {x0, y0, x1, y1} (ends exclusive) of the pixels above {@code threshold}. */
    private static int[] bounds(float[] g, int rows, int cols, float threshold) {
        int x0 = cols, y0 = rows, x1 = 0, y1 = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                if (g[r * cols + c] <= threshold) continue;
                x0 = Math.min(x0, c);
                y0 = Math.min(y0, r);
                x1 = Math.max(x1, c + 1);
                y1 = Math.max(y1, r + 1);
            }
        }
        return new int[]{x0, y0, x1, y1};
    }

    /** Crop, scale the longer side to the input's, stretch to a brightest value of 1, centre. */
    private static float[] place(Mat g, int[] box, int rows, int cols) {
        int w = box[2] - box[0], h = box[3] - box[1];
        Mat crop = new Mat(g, new Rect(box[0], box[1], w, h)).clone();
        double s = Math.min((double) cols / w, (double) rows / h);
        int nw = Math.max(1, Math.min(cols, (int) Math.round(w * s))), nh = Math.max(1, Math.min(rows, (int) Math.round(h * s)));
        Mat small = new Mat();
        resize(crop, small, new Size(nw, nh), 0, 0, s < 1 ? INTER_AREA : INTER_LINEAR);
        float[] px = Pixels.floats(small);
        float peak = 0;
        for (float v : px) peak = Math.max(peak, v);
        if (peak <= 0) peak = 1;
        float[] out = new float[rows * cols];
        int offR = (rows - nh) / 2, offC = (cols - nw) / 2;
        for (int r = 0; r < nh; r++) {
            for (int c = 0; c < nw; c++) out[(r + offR) * cols + c + offC] = Math.min(1f, Math.max(0f, px[r * nw + c] / peak));
        }
        return out;
    }
}
