package org.livetrain.image;

import org.bytedeco.javacpp.indexer.DoubleIndexer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point2f;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.BORDER_CONSTANT;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.getRotationMatrix2D;
import static org.bytedeco.opencv.global.opencv_imgproc.warpAffine;

/**
 * Random changes of training images that fit what their profile prepares, applied on the workers to
 * training examples only:
 * <ul>
 * <li>digit: small affine warps (OpenCV): rotation up to +-12 degrees, scaling by 0.9-1.1, shifts of up to
 *     2 pixels, the variation real handwriting brings (a mirrored digit is another symbol, so no flips);</li>
 * <li>object and rgb: a horizontal flip half of the time and a shift of up to 2 pixels (a crop of the
 *     image padded by 2), every channel alike.</li>
 * </ul>
 */
public final class Augmenter {
    static final double MAX_DEGREES = 12, MAX_SCALE = 0.1, MAX_SHIFT = 2;

    private Augmenter() {
    }

    /** A changed copy of an input laid out as {@code contract} says (channels x rows x cols), prepared by {@code profile} (the contract's). */
    public static float[] augment(float[] chw, InputContract contract, Profile profile, Random rnd) {
        return profile == Profile.DIGIT ? warp(chw, contract.height(), contract.width(), rnd)
                : flipAndShift(chw, contract.channels(), contract.height(), contract.width(), rnd);
    }

    /** A distorted copy of a grey image of {@code rows x cols} pixels in [0,1]. */
    public static float[] warp(float[] pixels, int rows, int cols, Random rnd) {
        double angle = (rnd.nextDouble() * 2 - 1) * MAX_DEGREES;
        double scale = 1 + (rnd.nextDouble() * 2 - 1) * MAX_SCALE;
        double dx = (rnd.nextDouble() * 2 - 1) * MAX_SHIFT, dy = (rnd.nextDouble() * 2 - 1) * MAX_SHIFT;
        float[] out = new float[pixels.length];
        try (Mat src = new Mat(rows, cols, CV_32F); Mat dst = new Mat();
             Point2f centre = new Point2f((cols - 1) / 2f, (rows - 1) / 2f);
             Mat m = getRotationMatrix2D(centre, angle, scale)) {
            try (FloatIndexer ix = src.createIndexer()) {
                ix.put(0, pixels);
            }
            try (DoubleIndexer t = m.createIndexer()) {
                t.put(0, 2, t.get(0, 2) + dx);
                t.put(1, 2, t.get(1, 2) + dy);
            }
            warpAffine(src, dst, m, new Size(cols, rows), INTER_LINEAR, BORDER_CONSTANT, new Scalar(0.0));
            try (FloatIndexer ix = dst.createIndexer()) {
                ix.get(0, out);
            }
        }
        for (int i = 0; i < out.length; i++) out[i] = Math.max(0f, Math.min(1f, out[i]));
        return out;
    }

    /** Mirrored left to right half of the time, shifted by up to 2 pixels; what comes in at the edge is 0. */
    static float[] flipAndShift(float[] chw, int channels, int rows, int cols, Random rnd) {
        boolean flip = rnd.nextBoolean();
        int dy = rnd.nextInt(2 * (int) MAX_SHIFT + 1) - (int) MAX_SHIFT, dx = rnd.nextInt(2 * (int) MAX_SHIFT + 1) - (int) MAX_SHIFT;
        float[] out = new float[chw.length];
        int plane = rows * cols;
        for (int ch = 0; ch < channels; ch++) {
            for (int r = 0; r < rows; r++) {
                int sr = r - dy;
                if (sr < 0 || sr >= rows) continue;
                for (int c = 0; c < cols; c++) {
                    int sc = (flip ? cols - 1 - c : c) - dx;
                    if (sc < 0 || sc >= cols) continue;
                    out[ch * plane + r * cols + c] = chw[ch * plane + sr * cols + sc];
                }
            }
        }
        return out;
    }
}
