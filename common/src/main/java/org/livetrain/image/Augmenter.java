package org.livetrain.image;

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
 * Random small distortions of training images (OpenCV affine warps): rotation up to +-12 degrees,
 * scaling by 0.9-1.1 and shifts of up to 2 pixels, the kind of variation real handwriting and real
 * photographs bring. Applied on the workers, to training examples only.
 */
public final class Augmenter {
    static final double MAX_DEGREES = 12, MAX_SCALE = 0.1, MAX_SHIFT = 2;

    private Augmenter() {
    }

    /** A distorted copy of a grey image of {@code rows x cols} pixels in [0,1]. */
    public static float[] augment(float[] pixels, int rows, int cols, Random rnd) {
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
            try (org.bytedeco.javacpp.indexer.DoubleIndexer t = m.createIndexer()) {
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
}
