package org.livetrain.image;

import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.MatVector;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;

import static org.bytedeco.opencv.global.opencv_core.CV_32FC3;
import static org.bytedeco.opencv.global.opencv_core.split;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_GRAY2BGR;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.cvtColor;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

/**
 * {@link Profile#RGB}: a colour photo becomes three planes (red, green, blue) of the input's size: its
 * shorter side scaled to the input's, the centre cropped. Grey images are repeated in the three planes;
 * transparency is flattened onto white.
 */
final class RgbProfile {
    private RgbProfile() {
    }

    static float[] prepare(Mat img, InputContract c, String name) {
        Mat f = Pixels.unit(img);
        Mat bgr = new Mat();
        switch (f.channels()) {
            case 1 -> cvtColor(f, bgr, COLOR_GRAY2BGR);
            case 2 -> cvtColor(Pixels.grayscale(img), bgr, COLOR_GRAY2BGR);
            case 4 -> bgr = onWhite(f);
            default -> bgr = f;
        }
        double s = Math.max((double) c.width() / bgr.cols(), (double) c.height() / bgr.rows());
        int nw = Math.max(c.width(), (int) Math.round(bgr.cols() * s)), nh = Math.max(c.height(), (int) Math.round(bgr.rows() * s));
        Mat scaled = bgr;
        if (nw != bgr.cols() || nh != bgr.rows()) {
            scaled = new Mat();
            resize(bgr, scaled, new Size(nw, nh), 0, 0, s < 1 ? INTER_AREA : INTER_LINEAR);
        }
        Mat crop = new Mat(scaled, new Rect((nw - c.width()) / 2, (nh - c.height()) / 2, c.width(), c.height())).clone();
        int plane = c.height() * c.width();
        float[] out = new float[3 * plane];
        try (MatVector planes = new MatVector()) {
            split(crop, planes);
            for (int ch = 0; ch < 3; ch++) { // OpenCV's order is blue, green, red
                float[] p = Pixels.floats(planes.get(2 - ch));
                for (int i = 0; i < plane; i++) out[ch * plane + i] = Math.min(1f, Math.max(0f, p[i]));
            }
        }
        return out;
    }

    /** BGRA in [0,1] composited onto white. */
    private static Mat onWhite(Mat bgra) {
        float[] v = Pixels.floats(bgra);
        int n = bgra.rows() * bgra.cols();
        float[] out = new float[3 * n];
        for (int i = 0; i < n; i++) {
            float a = v[4 * i + 3];
            for (int ch = 0; ch < 3; ch++) out[3 * i + ch] = a * v[4 * i + ch] + (1 - a);
        }
        Mat m = new Mat(bgra.rows(), bgra.cols(), CV_32FC3);
        try (FloatIndexer ix = m.createIndexer()) {
            ix.put(0, out);
        }
        return m;
    }
}
