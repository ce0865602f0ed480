package org.livetrain.image;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.LiveTrainException;

import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
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
import java.util.List;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;

/**
 * Turns any image file into what a network was trained on, as its {@link InputContract} says: the file is
 * checked (size from its header before anything is decoded, completeness), decoded by OpenCV, prepared by
 * the contract's {@link Profile} and normalised. The one piece of code through which folder data sets, the
 * terminal reader and the Kafka scorer all go, so that training and serving see the same thing.
 */
public final class ImagePreprocessor {
    /** The side of the bundled digits (and of MNIST and Fashion-MNIST). */
    public static final int SIZE = 28;
    public static final long DEFAULT_MAX_PIXELS = 50_000_000L;

    private final InputContract contract;
    /** The contract's profile, parsed once. */
    private final Profile profile;
    private final long maxPixels;

    /** For the bundled digits' contract: 28x28, prepared as a handwritten digit. */
    public ImagePreprocessor() {
        this(DEFAULT_MAX_PIXELS);
    }

    public ImagePreprocessor(long maxPixels) {
        this(InputContract.before(List.of()), maxPixels);
    }

    public ImagePreprocessor(InputContract contract, long maxPixels) {
        this.contract = contract;
        this.profile = contract.profile();
        this.maxPixels = maxPixels;
    }

    /** Reads, checks and preprocesses a local file; every refusal names the file. */
    public float[] file(Path file) {
        return decoded(decode(file), file.toString());
    }

    /** Preprocesses an encoded image (PNG, JPEG, BMP, TIFF, ...); {@code name} appears in errors. */
    public float[] bytes(byte[] encoded, String name) {
        return decoded(decode(encoded, name), name);
    }

    /** Reads, checks and decodes a local file, without preparing it; every refusal names the file. */
    public Mat decode(Path file) {
        if (!Files.exists(file)) throw new LiveTrainException(file + ": no such file");
        if (Files.isDirectory(file)) throw new LiveTrainException(file + ": is a directory, not an image");
        if (!Files.isReadable(file)) throw new LiveTrainException(file + ": not readable (permission denied)");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new LiveTrainException(file + ": unreadable (" + e.getMessage() + ")", e);
        }
        return decode(bytes, file.toString());
    }

    /** Checks (size from the header, completeness) and decodes an encoded image. */
    public Mat decode(byte[] encoded, String name) {
        if (encoded.length == 0) throw new LiveTrainException(name + ": empty file, not an image");
        checkDimensions(encoded, name);
        checkComplete(encoded, name);
        Mat img;
        // JavaCPP frees native memory when its Java object is collected: keep the bytes reachable until decoded
        try (BytePointer data = new BytePointer(encoded); Mat buf = new Mat(1, encoded.length, CV_8UC1, data)) {
            img = imdecode(buf, IMREAD_UNCHANGED);
        }
        if (img == null || img.empty()) throw new LiveTrainException(name + ": not an image, or a corrupt or truncated one");
        return img;
    }

    /**
     * Raw pixels as Spark's {@code image} source stores them (OpenCV's order: BGR or BGRA, row by row, 8 bits),
     * wrapped as an image after their size is checked against the stated height, width and channels.
     */
    public Mat raw(byte[] pixels, int height, int width, int channels, String name) {
        if (height <= 0 || width <= 0 || (channels != 1 && channels != 3 && channels != 4) || (long) height * width * channels != pixels.length) {
            throw new LiveTrainException(name + ": image of " + width + "x" + height + "x" + channels + " does not match its " + pixels.length + " bytes of pixels");
        }
        checkPixels(width, height, name);
        Mat m = new Mat(height, width, CV_8UC(channels));
        m.data().put(pixels);
        return m;
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
    private static Map<Integer, long[]> tiffTags(byte[] b, Set<Integer> wanted) {
        ByteBuffer buf = ByteBuffer.wrap(b).order(b[0] == 'I' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
        long ifd = Integer.toUnsignedLong(buf.getInt(4));
        if (ifd + 2 > b.length) return null;
        int entries = Short.toUnsignedInt(buf.getShort((int) ifd));
        if (ifd + 2 + 12L * entries + 4 > b.length) return null; // the entries and the next directory's offset
        Map<Integer, long[]> out = new HashMap<>();
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
        var tags = tiffTags(b, Set.of(256, 257));
        if (tags == null || !tags.containsKey(256) || !tags.containsKey(257)) return null;
        return new long[]{tags.get(256)[0], tags.get(257)[0]};
    }

    /**
     * libtiff decodes the strips or tiles that are there and leaves the rest blank: check that the first
     * image's directory and every strip or tile it lists (offsets and byte counts) lie inside the file.
     */
    private static boolean tiffDataInside(byte[] b) {
        var tags = tiffTags(b, Set.of(273, 279, 324, 325));
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

    /**
     * A prepared input as an 8-bit image (grey, or BGR for OpenCV), the contract's normalisation undone: what
     * the network sees, to save as a file.
     */
    public static Mat picture(float[] input, InputContract c) {
        int plane = c.height() * c.width(), ch = c.channels();
        byte[] px = new byte[plane * ch];
        for (int k = 0; k < ch; k++) {
            float m = c.mean() == null ? 0f : c.mean()[k], s = c.std() == null ? 1f : c.std()[k];
            int to = ch == 3 ? 2 - k : 0; // red, green, blue planes to OpenCV's blue, green, red order
            for (int i = 0; i < plane; i++) px[i * ch + to] = (byte) Math.round(255 * Math.max(0f, Math.min(1f, input[k * plane + i] * s + m)));
        }
        Mat img = new Mat(c.height(), c.width(), ch == 3 ? CV_8UC3 : CV_8UC1);
        img.data().put(px); // a new Mat is continuous: rows one after the other, channels interleaved
        return img;
    }

    /** How far apart the colour channels of an image are, on average over its pixels, in [0,1]; 0 for grey. */
    public static float colourSpread(Mat img) {
        if (img.channels() < 3) return 0f;
        float[] v = Pixels.floats(Pixels.unit(Pixels.reduce(img, 64)));
        int ch = img.channels();
        double sum = 0;
        for (int i = 0; i + 2 < v.length; i += ch) {
            sum += Math.max(v[i], Math.max(v[i + 1], v[i + 2])) - Math.min(v[i], Math.min(v[i + 1], v[i + 2]));
        }
        return (float) (sum / (v.length / ch));
    }

    /** Prepares a decoded OpenCV image of any depth and channel count, as the contract says. */
    public float[] decoded(Mat img, String name) {
        if ((long) img.rows() * img.cols() > maxPixels) {
            throw new LiveTrainException(String.format("%s: image is %dx%d, above the limit of %.1f megapixels", name, img.cols(), img.rows(), maxPixels / 1e6));
        }
        return contract.normalise(profile.prepare(img, contract, name));
    }
}
