package org.livetrain.data;

import java.io.Serializable;
import org.livetrain.image.InputContract;

import java.util.Iterator;

/**
 * A numbered collection of labelled images that lives on storage. The driver only ever asks for the
 * labels (one int per example); executors read the examples of their own shard with {@link #read}.
 */
public interface Pool extends Serializable {
    /** Where the examples come from, for messages. */
    String describe();

    int size();

    /** The label of every example, by index. */
    int[] labels();

    /**
     * The examples at the given indices, which must be strictly increasing, in that order. Examples that
     * cannot be decoded are skipped with a warning that names them.
     */
    Iterator<LabeledImage> read(int[] sortedIndices);

    /** The same examples, prepared and normalised by {@code contract}. */
    Pool withContract(InputContract contract);

    /** Up to {@code n} indices spread evenly over the pool, increasing: what a driver samples to decide something. */
    default int[] spread(int n) {
        int k = Math.min(n, size());
        int[] idx = new int[k];
        for (int i = 0; i < k; i++) idx[i] = (int) ((long) i * size() / k);
        return idx;
    }
}
