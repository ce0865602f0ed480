// How well the real preparation copes with images as people hand them over: the test split of a data set,
// rendered in several ways, written as files, prepared through the checkpoint's input contract and scored,
// next to the network's own test accuracy. Run by bench/robustness.sh.
import org.apache.hadoop.conf.Configuration;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point2f;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Function;

import static org.bytedeco.opencv.global.opencv_core.BORDER_CONSTANT;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.*;

public class Robustness {
    /** A way people hand an image over: from the data set's 28x28 grey image (bright on dark) to a picture, and how it is saved. */
    record Rendering(String name, String how, Function<Mat, Mat> make, String ext, int jpegQuality) {
    }

    /** {@code DATA CHECKPOINT_DIR [STRIDE] [SAMPLES_DIR]}: prints the table in Markdown. */
    public static void main(String[] args) throws Exception {
        String data = args[0];
        CheckpointStore store = CheckpointStore.open(args[1], new Configuration());
        int stride = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        Path samples = args.length > 3 ? Path.of(args[3]) : null;
        Checkpoint cp = store.load(store.best().orElseThrow(), false);
        Dataset dataset = Dataset.open(data, new Configuration()).prepared(null, 0);
        int[] all = dataset.split(Split.DEFAULT_SEED).test(), test = new int[(all.length + stride - 1) / stride];
        for (int i = 0; i < test.length; i++) test[i] = all[i * stride];
        Arrays.sort(test);
        List<LabeledImage> examples = new ArrayList<>();
        dataset.testSource().read(test).forEachRemaining(examples::add);

        double reference = accuracy(cp, examples.stream().map(LabeledImage::pixels).toList(), examples);
        ImagePreprocessor pre = new ImagePreprocessor(cp.input(), ImagePreprocessor.DEFAULT_MAX_PIXELS);
        Path work = Files.createTempDirectory("livetrain-robustness-");
        System.out.printf(Locale.ROOT, "%n%s: %d test images, checkpoint %s (profile %s), network test accuracy %.4f on the data set's own tensors%n%n",
                data, examples.size(), cp.pointer().describe(), cp.input().profile(), reference);
        System.out.println("| rendering | how | accuracy | against the test accuracy |");
        System.out.println("| --- | --- | --- | --- |");
        for (Rendering r : data.equals("fashion") ? fashion() : digits()) {
            List<float[]> inputs = new ArrayList<>();
            List<LabeledImage> kept = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < examples.size(); i++) {
                LabeledImage e = examples.get(i);
                Path file = work.resolve(r.name().replaceAll("\\W+", "-") + "-" + i + "." + r.ext());
                Mat img = r.make().apply(grey(e.pixels(), dataset.shape().height(), dataset.shape().width()));
                if (r.jpegQuality() > 0) imwrite(file.toString(), img, new IntPointer(IMWRITE_JPEG_QUALITY, r.jpegQuality()));
                else imwrite(file.toString(), img);
                if (samples != null && i < 3) Files.copy(file, Files.createDirectories(samples).resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                try {
                    inputs.add(pre.file(file));
                    kept.add(e);
                } catch (RuntimeException refusedFile) {
                    refused++; // counted as wrong
                }
                Files.delete(file);
            }
            double acc = inputs.isEmpty() ? 0 : accuracy(cp, inputs, kept) * kept.size() / examples.size();
            System.out.printf(Locale.ROOT, "| %s | %s | %.4f%s | %+.1f points |%n", r.name(), r.how(), acc, refused == 0 ? "" : " (" + refused + " refused)",
                    100 * (acc - reference));
        }
        System.exit(0);
    }

    static double accuracy(Checkpoint cp, List<float[]> inputs, List<LabeledImage> examples) {
        int right = 0;
        for (int from = 0; from < inputs.size(); from += 256) {
            int to = Math.min(inputs.size(), from + 256);
            INDArray out = cp.network().output(Batches.input(inputs.subList(from, to)));
            for (int i = from; i < to; i++) if (out.getRow(i - from).argMax().getInt(0) == examples.get(i).label()) right++;
        }
        return right / (double) inputs.size();
    }

    // ---- renderings

    static List<Rendering> digits() {
        Random rnd = new Random(11);
        return List.of(
                new Rendering("as exported", "the data set's own 28x28 image, PNG", m -> m, "png", 0),
                new Rendering("tight crop", "cropped to the ink (touching all four edges), scaled x4, PNG", m -> scale(tightCrop(m), 4), "png", 0),
                new Rendering("8x8 scan", "reduced to 8x8, enlarged to 112x112 (bilinear), PNG", m -> scan(m, 8), "png", 0),
                new Rendering("12x12 scan", "reduced to 12x12, enlarged to 112x112, PNG", m -> scan(m, 12), "png", 0),
                new Rendering("16x16 scan", "reduced to 16x16, enlarged to 112x112, PNG", m -> scan(m, 16), "png", 0),
                new Rendering("thick marker", "scaled x4, strokes dilated by 9 pixels, PNG", m -> morph(scale(m, 4), MORPH_DILATE, 9), "png", 0),
                new Rendering("thin pen", "scaled x4, strokes eroded by 5 pixels, PNG", m -> morph(scale(m, 4), MORPH_ERODE, 5), "png", 0),
                new Rendering("dark on white, JPEG 70", "scaled x4, inverted, JPEG quality 70", m -> invert(scale(m, 4)), "jpg", 70),
                new Rendering("rotated +15", "rotated 15 degrees, scaled x4, PNG", m -> rotate(scale(m, 4), 15), "png", 0),
                new Rendering("rotated -15", "rotated -15 degrees, scaled x4, PNG", m -> rotate(scale(m, 4), -15), "png", 0),
                new Rendering("photographed sheet", "dark on a 320x320 sheet, light falling from 100% to 55% across it, a shadow over a third, noise, JPEG 85",
                        m -> sheet(m, rnd), "jpg", 85));
    }

    static List<Rendering> fashion() {
        return List.of(
                new Rendering("as exported", "the data set's own 28x28 image, PNG", m -> m, "png", 0),
                new Rendering("as exported, JPEG 90", "the data set's own 28x28 image, JPEG quality 90", m -> m, "jpg", 90),
                new Rendering("product photo", "scaled x6, dark object on white, a 40-pixel white margin, JPEG 85",
                        m -> margin(invert(scale(m, 6)), 40, 255), "jpg", 85),
                new Rendering("product photo, off-white", "as above on a light grey (225) background with uneven light", m -> unevenLight(margin(invert(scale(m, 6)), 40, 255), 225),
                        "jpg", 85));
    }

    static Mat grey(float[] px, int rows, int cols) {
        Mat m = new Mat(rows, cols, CV_8UC1);
        try (UByteIndexer ix = m.createIndexer()) {
            for (int p = 0; p < rows * cols; p++) ix.put(p / cols, p % cols, Math.round(px[p] * 255));
        }
        return m;
    }

    static Mat scale(Mat m, int k) {
        Mat out = new Mat();
        resize(m, out, new Size(m.cols() * k, m.rows() * k), 0, 0, INTER_LINEAR);
        return out;
    }

    static Mat tightCrop(Mat m) {
        int x0 = m.cols(), y0 = m.rows(), x1 = 0, y1 = 0;
        try (UByteIndexer ix = m.createIndexer()) {
            for (int r = 0; r < m.rows(); r++) for (int c = 0; c < m.cols(); c++) {
                if (ix.get(r, c) < 64) continue;
                x0 = Math.min(x0, c); y0 = Math.min(y0, r); x1 = Math.max(x1, c + 1); y1 = Math.max(y1, r + 1);
            }
        }
        return new Mat(m, new Rect(x0, y0, x1 - x0, y1 - y0)).clone();
    }

    static Mat scan(Mat m, int side) {
        Mat small = new Mat(), big = new Mat();
        resize(m, small, new Size(side, side), 0, 0, INTER_AREA);
        resize(small, big, new Size(112, 112), 0, 0, INTER_LINEAR);
        return big;
    }

    static Mat morph(Mat m, int op, int size) {
        Mat out = new Mat();
        morphologyEx(m, out, op, getStructuringElement(MORPH_ELLIPSE, new Size(size, size)));
        return out;
    }

    static Mat invert(Mat m) {
        Mat out = new Mat();
        m.convertTo(out, CV_8U, -1, 255);
        return out;
    }

    static Mat rotate(Mat m, double degrees) {
        Mat out = new Mat();
        Mat r = getRotationMatrix2D(new Point2f(m.cols() / 2f, m.rows() / 2f), degrees, 1.0);
        warpAffine(m, out, r, m.size(), INTER_LINEAR, BORDER_CONSTANT, new Scalar(0.0));
        return out;
    }

    static Mat margin(Mat m, int px, int value) {
        Mat out = new Mat(m.rows() + 2 * px, m.cols() + 2 * px, CV_8UC1, new Scalar(value));
        m.copyTo(new Mat(out, new Rect(px, px, m.cols(), m.rows())));
        return out;
    }

    /** Paper of brightness {@code paper} (0-255) lit from one side: the far side at 60%. */
    static Mat unevenLight(Mat m, int paper) {
        Mat f = new Mat();
        m.convertTo(f, CV_32F);
        try (FloatIndexer ix = f.createIndexer()) {
            for (int r = 0; r < f.rows(); r++) for (int c = 0; c < f.cols(); c++) {
                float v = ix.get(r, c) * paper / 255f;
                ix.put(r, c, v * (1f - 0.4f * c / f.cols()));
            }
        }
        Mat out = new Mat();
        f.convertTo(out, CV_8U);
        return out;
    }

    /** Dark ink (scaled x4) on a 320x320 sheet: light falling off across it, a shadow over a third, sensor noise. */
    static Mat sheet(Mat digit, Random rnd) {
        Mat ink = scale(digit, 4);
        Mat sheet = new Mat(320, 320, CV_32F, new Scalar(0.0));
        int x = 80 + rnd.nextInt(60), y = 80 + rnd.nextInt(60);
        try (FloatIndexer s = sheet.createIndexer(); UByteIndexer d = ink.createIndexer()) {
            for (int r = 0; r < 320; r++) for (int c = 0; c < 320; c++) {
                double light = 1.0 - 0.45 * c / 320.0;
                if (r + c < 200) light *= 0.6; // a shadow across the corner
                double paper = 235 * light;
                int dr = r - y, dc = c - x;
                double a = dr >= 0 && dc >= 0 && dr < ink.rows() && dc < ink.cols() ? d.get(dr, dc) / 255.0 : 0;
                double v = paper * (1 - 0.85 * a) + rnd.nextGaussian() * 4;
                s.put(r, c, (float) Math.max(0, Math.min(255, v)));
            }
        }
        Mat out = new Mat();
        sheet.convertTo(out, CV_8U);
        return out;
    }
}
