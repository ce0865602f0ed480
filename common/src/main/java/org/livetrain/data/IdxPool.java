package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.image.Shape;
import org.livetrain.LiveTrainException;
import org.livetrain.image.InputContract;
import org.livetrain.io.HadoopConf;

import java.util.Iterator;
import java.util.NoSuchElementException;

/** A pair of IDX files: images (idx3, count x rows x cols) and labels (idx1, count). */
public final class IdxPool implements Pool {
    private static final long serialVersionUID = 1L;
    private final String images;
    private final String labelsLocation;
    private final HadoopConf conf;
    private final Shape shape;
    private final int[] labels;
    private final InputContract contract;

    private IdxPool(String images, String labelsLocation, HadoopConf conf, Shape shape, int[] labels, InputContract contract) {
        this.images = images;
        this.labelsLocation = labelsLocation;
        this.conf = conf;
        this.shape = shape;
        this.labels = labels;
        this.contract = contract;
    }

    /**
     * Opens and checks a pair of IDX files: magic numbers, dimensions, equal counts, and that the images
     * file holds exactly the bytes its header declares (a truncated file fails here, on the driver,
     * before any training starts).
     */
    public static IdxPool open(String images, String labelsLocation, Configuration conf) {
        int[] labels = IdxFile.readLabels(labelsLocation, conf);
        Shape shape;
        try (IdxFile.Reader r = IdxFile.open(images, 3, conf)) {
            int[] dims = r.header().dims();
            if (dims[0] != labels.length) {
                throw new LiveTrainException(images + ": holds " + dims[0] + " images but " + labelsLocation + " holds " + labels.length + " labels");
            }
            shape = new Shape(dims[1], dims[2], 1);
            r.expectEnd();
        }
        return new IdxPool(images, labelsLocation, new HadoopConf(conf), shape, labels, null);
    }

    /** IDX images are already the input: the contract only adds its normalisation. */
    @Override
    public IdxPool withContract(InputContract c) {
        return new IdxPool(images, labelsLocation, conf, shape, labels, c);
    }

    /**
     * Whether the images look like MNIST's: a figure in a box with empty rows and columns around it, so that
     * less than 1% of the ink of a sample lies within {@code margin} of the border.
     */
    boolean looksLikeMnist(int margin, int sample) {
        int rows = shape.height(), cols = shape.width();
        if (shape.channels() != 1 || rows <= 2 * margin || cols <= 2 * margin) return false;
        double border = 0, all = 0;
        Iterator<LabeledImage> it = read(spread(sample));
        while (it.hasNext()) {
            float[] px = it.next().pixels();
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    float v = px[r * cols + c];
                    all += v;
                    if (r < margin || c < margin || r >= rows - margin || c >= cols - margin) border += v;
                }
            }
        }
        return all > 0 && border / all < 0.01;
    }

    public Shape shape() {
        return shape;
    }

    @Override
    public String describe() {
        return images;
    }

    @Override
    public int size() {
        return labels.length;
    }

    @Override
    public int[] labels() {
        return labels;
    }

    @Override
    public Iterator<LabeledImage> read(int[] sortedIndices) {
        IdxFile.Reader reader = IdxFile.open(images, 3, conf.get());
        int itemBytes = Math.toIntExact(reader.header().itemBytes());
        return new Iterator<>() {
            private final byte[] buf = new byte[itemBytes];
            private int next;

            @Override
            public boolean hasNext() {
                if (next < sortedIndices.length) return true;
                reader.close();
                return false;
            }

            @Override
            public LabeledImage next() {
                if (!hasNext()) throw new NoSuchElementException();
                int index = sortedIndices[next++];
                reader.skipTo(index);
                reader.readItems(buf, 0, 1);
                float[] px = new float[itemBytes];
                for (int i = 0; i < itemBytes; i++) px[i] = (buf[i] & 0xff) / 255f;
                return new LabeledImage(index, labels[index], contract == null ? px : contract.normalise(px));
            }
        };
    }
}
