package org.livetrain.image;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.javacpp.indexer.IntIndexer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.MatVector;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;
import org.livetrain.LiveTrainException;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;

import static org.bytedeco.opencv.global.opencv_core.CV_16U;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_32S;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.split;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;
import static org.bytedeco.opencv.global.opencv_imgproc.*;

/**
 * Turns any image file into what the network was trained on, the way MNIST itself was made: ink bright
 * on black, cropped to the ink, the longer side scaled into a 20x20 box keeping the aspect ratio, placed
 * in 28x28 with its centre of mass in the middle, values in [0,1]. Used by folder data sets, the terminal
 * reader and the Kafka scorer alike, so that training and serving see the same thing.
 */
public final class ImagePreprocessor {
    public static final int SIZE = 28;
    public static final int BOX = 20;
    public static final long DEFAULT_MAX_PIXELS = 50_000_000L;
    /** Images are reduced to this longer side before the ink is separated: plenty for a 20x20 result. */
    private static final int WORK_SIDE = 448;

    private final long maxPixels;

    public ImagePreprocessor() {
        this(DEFAULT_MAX_PIXELS);
    }

    public ImagePreprocessor(long maxPixels) {
        this.maxPixels = maxPixels;
    }

    /** Reads, checks and preprocesses a local file; every refusal names the file. */
    public float[] file(Path file) {
        if (!Files.exists(file)) throw new LiveTrainException(file + ": no such file");
        if (Files.isDirectory(file)) throw new LiveTrainException(file + ": is a directory, not an image");
        if (!Files.isReadable(file)) throw new LiveTrainException(file + ": not readable (permission denied)");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + e.getMessage() + ")", e);
        }
        return bytes(bytes, file.toString());
    }

    /** Preprocesses an encoded image (PNG, JPEG, BMP, TIFF, ...); {@code name} appears in errors. */
    public float[] bytes(byte[] encoded, String name) {
        if (encoded.length == 0) throw new LiveTrainException(name + ": empty file, not an image");
        checkDimensions(encoded, name);
        checkComplete(encoded, name);
        Mat img;
        // JavaCPP frees native memory when its Java object is collected: keep the bytes reachable until decoded
        try (BytePointer data = new BytePointer(encoded); Mat buf = new Mat(1, encoded.length, CV_8UC1, data)) {
            img = imdecode(buf, IMREAD_UNCHANGED);
        }
        if (img == null || img.empty()) throw new LiveTrainException(name + ": not an image, or a corrupt or truncated one");
        return decoded(img, name);
    }

    /** Reads only the header so that a decompression bomb is refused before any pixel is decoded. */
    private void checkDimensions(byte[] encoded, String name) {
        // PNG: the IHDR chunk comes first, width and height at bytes 16-23 (big-endian); reading them
        // directly costs nothing, whereas ImageIO's reader lookup was half the cost of a small PNG
        if (encoded.length >= 24 && (encoded[0] & 0xff) == 0x89 && encoded[1] == 'P' && encoded[2] == 'N' && encoded[3] == 'G'
                && encoded[12] == 'I' && encoded[13] == 'H' && encoded[14] == 'D' && encoded[15] == 'R') {
            ByteBuffer header = ByteBuffer.wrap(encoded, 16, 8);
            checkPixels(Integer.toUnsignedLong(header.getInt()), Integer.toUnsignedLong(header.getInt()), name);
            return;
        }
        // TIFF: from the first directory (ImageIO's TIFF reader trusts the directory's counts: a corrupted
        // one made it allocate until the heap ran out)
        if (isTiff(encoded)) {
            long[] size = tiffSize(encoded);
            if (size == null) throw new LiveTrainException(name + ": not an image, or a corrupt or truncated one (unreadable TIFF directory)");
            checkPixels(size[0], size[1], name);
            return;
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(encoded))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) return; // a format ImageIO does not know: OpenCV's own limit applies
            ImageReader r = readers.next();
            try {
                r.setInput(in, true, true);
                checkPixels(r.getWidth(0), r.getHeight(0), name);
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof LiveTrainException lte) throw lte;
            throw new LiveTrainException(name + ": not an image, or a corrupt or truncated one (" + e.getMessage() + ")", e);
        }
    }

    private void checkPixels(long w, long h, String name) {
        if (w * h > maxPixels) {
            throw new LiveTrainException(String.format("%s: image is %dx%d = %.1f megapixels, above the limit of %.1f megapixels",
                    name, w, h, w * h / 1e6, maxPixels / 1e6));
        }
    }

    /**
     * Decoders fill a truncated PNG or JPEG with grey and say nothing: check that the file reaches its
     * end marker (PNG's IEND chunk, JPEG's EOI) before decoding.
     */
    static void checkComplete(byte[] b, String name) {
        boolean png = b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G';
        boolean jpeg = b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF;
        if (png && lastIndexOf(b, new byte[]{'I', 'E', 'N', 'D'}, b.length) < 0) {
            throw new LiveTrainException(name + ": truncated PNG (no IEND chunk)");
        }
        // the last start-of-scan belongs to the main image (an EXIF thumbnail's comes earlier); the
        // entropy-coded data cannot hold FF D9, so an end-of-image marker after it means the scan is whole
        if (jpeg) {
            int sos = lastIndexOf(b, new byte[]{(byte) 0xFF, (byte) 0xDA}, b.length);
            if (sos < 0 || lastIndexOf(b, new byte[]{(byte) 0xFF, (byte) 0xD9}, b.length) < sos) {
                throw new LiveTrainException(name + ": truncated JPEG (no end-of-image marker after its image data)");
            }
        }
        if (isTiff(b) && !tiffDataInside(b)) throw new LiveTrainException(name + ": truncated TIFF (its image data lies past the end of the file)");
    }

    static boolean isTiff(byte[] b) {
        return b.length >= 8 && ((b[0] == 'I' && b[1] == 'I' && b[2] == 42 && b[3] == 0) || (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 42));
    }

    /** The values of the TIFF tags wanted, from the first directory; null when the directory is not inside the file. */
    private static java.util.Map<Integer, long[]> tiffTags(byte[] b, java.util.Set<Integer> wanted) {
        ByteBuffer buf = ByteBuffer.wrap(b).order(b[0] == 'I' ? java.nio.ByteOrder.LITTLE_ENDIAN : java.nio.ByteOrder.BIG_ENDIAN);
        long ifd = Integer.toUnsignedLong(buf.getInt(4));
        if (ifd + 2 > b.length) return null;
        int entries = Short.toUnsignedInt(buf.getShort((int) ifd));
        if (ifd + 2 + 12L * entries + 4 > b.length) return null; // the entries and the next directory's offset
        java.util.Map<Integer, long[]> out = new java.util.HashMap<>();
        for (int i = 0; i < entries; i++) {
            int e = (int) ifd + 2 + 12 * i;
            int tag = Short.toUnsignedInt(buf.getShort(e));
            if (!wanted.contains(tag)) continue;
            int type = Short.toUnsignedInt(buf.getShort(e + 2));
            long n = Integer.toUnsignedLong(buf.getInt(e + 4));
            int size = type == 3 ? 2 : type == 4 ? 4 : 0; // SHORT or LONG
            if (size == 0 || n == 0 || n * size > b.length) return null;
            long at = n * size <= 4 ? e + 8 : Integer.toUnsignedLong(buf.getInt(e + 8));
            if (at + n * size > b.length) return null;
            long[] v = new long[(int) n];
            for (int k = 0; k < n; k++) {
                int pos = (int) at + k * size;
                v[k] = size == 2 ? Short.toUnsignedInt(buf.getShort(pos)) : Integer.toUnsignedLong(buf.getInt(pos));
            }
            out.put(tag, v);
        }
        return out;
    }

    /** Width and height of a TIFF's first image (tags 256 and 257), or null. */
    private static long[] tiffSize(byte[] b) {
        var tags = tiffTags(b, java.util.Set.of(256, 257));
        if (tags == null || !tags.containsKey(256) || !tags.containsKey(257)) return null;
        return new long[]{tags.get(256)[0], tags.get(257)[0]};
    }

    /**
     * libtiff decodes the strips or tiles that are there and leaves the rest blank: check that the first
     * image's directory and every strip or tile it lists (offsets and byte counts) lie inside the file.
     */
    private static boolean tiffDataInside(byte[] b) {
        var tags = tiffTags(b, java.util.Set.of(273, 279, 324, 325));
        if (tags == null) return false;
        long[] offsets = tags.containsKey(273) ? tags.get(273) : tags.get(324);
        long[] counts = tags.containsKey(279) ? tags.get(279) : tags.get(325);
        if (offsets == null || counts == null || offsets.length != counts.length) return false;
        for (int k = 0; k < offsets.length; k++) if (offsets[k] + counts[k] > b.length) return false;
        return true;
    }

    private static int lastIndexOf(byte[] b, byte[] marker, int before) {
        for (int i = before - marker.length; i >= 0; i--) {
            if (Arrays.equals(b, i, i + marker.length, marker, 0, marker.length)) return i;
        }
        return -1;
    }

    /** Preprocesses a decoded OpenCV image of any depth and channel count. */
    public float[] decoded(Mat img, String name) {
        if ((long) img.rows() * img.cols() > maxPixels) {
            throw new LiveTrainException(String.format("%s: image is %dx%d, above the limit of %.1f megapixels", name, img.cols(), img.rows(), maxPixels / 1e6));
        }
        // reduce first (area averaging, any depth and channel count): everything after works on few pixels
        Mat gray = grayscale(reduce(img));
        Mat ink = inkBright(gray);
        Mat flat = flattenBackground(ink);
        Mat mask = inkMask(flat, name);
        int[] box = keepInk(mask, name);
        return place(flat, mask, box);
    }

    /** Float grey levels in [0,1]; alpha flattened onto a background opposite to the ink. */
    static Mat grayscale(Mat img) {
        double scale = switch (img.depth()) {
            case CV_8U -> 1 / 255.0;
            case CV_16U -> 1 / 65535.0;
            case CV_32F -> 1.0;
            default -> throw new LiveTrainException("unsupported pixel depth " + img.depth());
        };
        Mat f = new Mat();
        img.convertTo(f, CV_32F, scale, 0);
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
        // what is drawn (opaque) is the ink: put it on a background of the opposite brightness
        float background = opaqueN > 0 && opaqueSum / opaqueN < 0.5 ? 1f : 0f;
        for (int i = 0; i < g.length; i++) g[i] = a[i] * g[i] + (1 - a[i]) * background;
        return mat(g, gray.rows(), gray.cols());
    }

    /** Large images are reduced (area averaging) so that the rest works on a bounded number of pixels. */
    private static Mat reduce(Mat img) {
        int side = Math.max(img.rows(), img.cols());
        if (side <= WORK_SIDE) return img;
        double s = (double) WORK_SIDE / side;
        Mat out = new Mat();
        resize(img, out, new Size(Math.max(1, (int) Math.round(img.cols() * s)), Math.max(1, (int) Math.round(img.rows() * s))), 0, 0, INTER_AREA);
        return out;
    }

    /**
     * Inverts dark-on-light images. The background is what most of the image is (ink covers a small part
     * of it), so the median grey level decides; the edges alone would be fooled by a table or a frame.
     */
    private static Mat inkBright(Mat gray) {
        float[] g = floats(gray);
        int[] histogram = new int[256];
        for (float v : g) histogram[Math.max(0, Math.min(255, Math.round(v * 255)))]++;
        int seen = 0, median = 0;
        while (median < 255 && (seen += histogram[median]) < (g.length + 1) / 2) median++;
        if (median > 127) {
            for (int i = 0; i < g.length; i++) g[i] = 1f - g[i];
        }
        return mat(g, gray.rows(), gray.cols());
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

    /** Crop, scale into the 20x20 box, normalise the ink, centre by centre of mass in 28x28. */
    private static float[] place(Mat flat, Mat mask, int[] box) {
        int w = box[2] - box[0], h = box[3] - box[1];
        // ink values near the kept pieces only (a small dilation keeps anti-aliased edges)
        Mat near = new Mat();
        dilate(mask, near, getStructuringElement(MORPH_ELLIPSE, new Size(3, 3)));
        Mat cleaned = new Mat(flat.size(), CV_32F, new Scalar(0.0));
        flat.copyTo(cleaned, near);
        Mat crop = new Mat(cleaned, new org.bytedeco.opencv.opencv_core.Rect(box[0], box[1], w, h)).clone();
        double s = (double) BOX / Math.max(w, h);
        int nw = Math.max(1, (int) Math.round(w * s)), nh = Math.max(1, (int) Math.round(h * s));
        Mat small = new Mat();
        resize(crop, small, new Size(nw, nh), 0, 0, s < 1 ? INTER_AREA : INTER_LINEAR);
        float[] px = floats(small);
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
        // shift so that the centre of mass lands on the centre of the 28x28 field, keeping the box inside
        int offR = clamp((int) Math.round((SIZE - 1) / 2.0 - comR), 0, SIZE - nh);
        int offC = clamp((int) Math.round((SIZE - 1) / 2.0 - comC), 0, SIZE - nw);
        float[] out = new float[SIZE * SIZE];
        for (int r = 0; r < nh; r++) System.arraycopy(px, r * nw, out, (r + offR) * SIZE + offC, nw);
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
        float[] v = floats(m);
        double lo = Double.MAX_VALUE, hi = -Double.MAX_VALUE;
        for (float x : v) {
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
        }
        return new double[]{lo, hi};
    }

    static float[] floats(Mat m) {
        Mat c = m.isContinuous() ? m : m.clone();
        float[] out = new float[c.rows() * c.cols()];
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
