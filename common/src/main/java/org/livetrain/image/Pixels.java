package org.livetrain.image;

import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.MatVector;
import org.bytedeco.opencv.opencv_core.Size;
import org.livetrain.LiveTrainException;

import static org.bytedeco.opencv.global.opencv_core.CV_16U;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.split;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGR2GRAY;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGRA2BGR;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.cvtColor;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

/** What every profile does to a decoded image first: float values in [0,1], grey, bounded size. */
final class Pixels {
    private Pixels() {
    }

    /** Float values in [0,1] of any depth, the channels kept (BGR, BGRA, grey, grey + alpha). */
    static Mat unit(Mat img) {
        double scale = switch (img.depth()) {
            case CV_8U -> 1 / 255.0;
            case CV_16U -> 1 / 65535.0;
            case CV_32F -> 1.0;
            default -> throw new LiveTrainException("unsupported pixel depth " + img.depth());
        };
        Mat f = new Mat();
        img.convertTo(f, CV_32F, scale, 0);
        return f;
    }

    /**
     * Float grey levels in [0,1]; what is transparent is flattened onto a background of the opposite
     * brightness to what is drawn (the opaque part), so that the drawing stands out either way.
     */
    static Mat grayscale(Mat img) {
        Mat f = unit(img);
        int ch = f.channels();
        if (ch == 1) return f;
        Mat gray = new Mat();
        Mat alpha = null;
        // planes handed out by a MatVector die with it: copy what is kept, then free the vector
        try (MatVector planes = new MatVector()) {
            split(f, planes);
            if (ch == 2) {
                gray = planes.get(0).clone();
                alpha = planes.get(1).clone();
            } else {
                Mat bgr = new Mat();
                if (ch == 4) {
                    cvtColor(f, bgr, COLOR_BGRA2BGR);
                    alpha = planes.get(3).clone();
                } else {
                    bgr = f;
                }
                cvtColor(bgr, gray, COLOR_BGR2GRAY);
            }
        }
        if (alpha == null) return gray;
        float[] g = floats(gray), a = floats(alpha);
        double opaqueSum = 0, opaqueN = 0, transparentN = 0;
        for (int i = 0; i < g.length; i++) {
            if (a[i] > 0.5f) {
                opaqueSum += g[i];
                opaqueN++;
            } else {
                transparentN++;
            }
        }
        if (transparentN == 0) return gray;
        float background = opaqueN > 0 && opaqueSum / opaqueN < 0.5 ? 1f : 0f;
        for (int i = 0; i < g.length; i++) g[i] = a[i] * g[i] + (1 - a[i]) * background;
        return mat(g, gray.rows(), gray.cols());
    }

    /** An image whose longer side is above {@code side} is reduced to it (area averaging, any depth and channels). */
    static Mat reduce(Mat img, int side) {
        int longer = Math.max(img.rows(), img.cols());
        if (longer <= side) return img;
        double s = (double) side / longer;
        Mat out = new Mat();
        resize(img, out, new Size(Math.max(1, (int) Math.round(img.cols() * s)), Math.max(1, (int) Math.round(img.rows() * s))), 0, 0, INTER_AREA);
        return out;
    }

    /** The grey level most of the image has (ink and objects cover less than half of it). */
    static float median(float[] g) {
        int[] histogram = new int[256];
        for (float v : g) histogram[Math.max(0, Math.min(255, Math.round(v * 255)))]++;
        int seen = 0, median = 0;
        while (median < 255 && (seen += histogram[median]) < (g.length + 1) / 2) median++;
        return median / 255f;
    }

    /** The largest value in the outer {@code ring} rows and columns of a {@code rows x cols} image. */
    static float borderMax(float[] g, int rows, int cols, int ring) {
        float max = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                if (r >= ring && r < rows - ring && c >= ring && c < cols - ring) continue;
                max = Math.max(max, g[r * cols + c]);
            }
        }
        return max;
    }

    static void invert(float[] g) {
        for (int i = 0; i < g.length; i++) g[i] = 1f - g[i];
    }

    static float[] floats(Mat m) {
        Mat c = m.isContinuous() ? m : m.clone();
        float[] out = new float[c.rows() * c.cols() * c.channels()];
        try (FloatIndexer idx = c.createIndexer()) {
            idx.get(0, out);
        }
        return out;
    }

    static Mat mat(float[] v, int rows, int cols) {
        Mat m = new Mat(rows, cols, CV_32F);
        try (FloatIndexer idx = m.createIndexer()) {
            idx.put(0, v);
        }
        return m;
    }
}
