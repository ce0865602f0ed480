package org.livetrain.data;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** Examples to ND4J mini-batches: features [n, pixels] in [0,1], labels one-hot [n, classes]. */
public final class Batches {
    private Batches() {
    }

    public static DataSet toDataSet(List<LabeledImage> examples, int numClasses) {
        int n = examples.size();
        int pixels = examples.get(0).pixels().length;
        float[] f = new float[n * pixels];
        float[] l = new float[n * numClasses];
        for (int i = 0; i < n; i++) {
            LabeledImage e = examples.get(i);
            System.arraycopy(e.pixels(), 0, f, i * pixels, pixels);
            l[i * numClasses + e.label()] = 1f;
        }
        INDArray features = Nd4j.create(f, new long[]{n, pixels}, 'c');
        INDArray labels = Nd4j.create(l, new long[]{n, numClasses}, 'c');
        return new DataSet(features, labels);
    }

    /** Groups a stream of examples into mini-batches of at most {@code size}. */
    public static Iterator<DataSet> batches(Iterator<LabeledImage> examples, int size, int numClasses) {
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return examples.hasNext();
            }

            @Override
            public DataSet next() {
                List<LabeledImage> buf = new ArrayList<>(size);
                while (buf.size() < size && examples.hasNext()) buf.add(examples.next());
                return toDataSet(buf, numClasses);
            }
        };
    }

    /** The input of images of the same size, as one batch. */
    public static INDArray input(List<float[]> images) {
        int pixels = images.get(0).length;
        float[] f = new float[images.size() * pixels];
        for (int i = 0; i < images.size(); i++) System.arraycopy(images.get(i), 0, f, i * pixels, pixels);
        return Nd4j.create(f, new long[]{images.size(), pixels}, 'c');
    }
}
