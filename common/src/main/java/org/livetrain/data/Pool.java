package org.livetrain.data;

import java.io.Serializable;
import org.livetrain.image.InputContract;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Consumer;

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

    /** An example that cannot be trained on, and why, in a line that names it. */
    record Refused(int index, String why) implements Serializable {
    }

    /** Whether single examples may be unusable (files read one by one), so that the data must be checked before a run. */
    default boolean examplesCanFail() {
        return false;
    }

    /** An example read and prepared as training feeds it, or why it cannot be trained on: exactly one is set. */
    record Checked(LabeledImage example, Refused refused) implements Serializable {
    }

    /**
     * The examples at the given (increasing) indices read, decoded and prepared as training will, on an executor,
     * each with its outcome; with {@code keep} false only the refusals. A pool whose examples cannot fail one by
     * one (IDX files are checked whole when opened) refuses none.
     */
    default Iterator<Checked> checked(int[] sortedIndices, boolean keep) {
        if (!keep) return Collections.emptyIterator();
        Iterator<LabeledImage> in = read(sortedIndices);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return in.hasNext();
            }

            @Override
            public Checked next() {
                return new Checked(in.next(), null);
            }
        };
    }

    /** The examples among checked outcomes, in order; each refusal is handed to {@code refused} (to log it, say) and skipped. */
    static Iterator<LabeledImage> examples(Iterator<Checked> outcomes, Consumer<Refused> refused) {
        return new Iterator<>() {
            private LabeledImage ready;

            @Override
            public boolean hasNext() {
                while (ready == null && outcomes.hasNext()) {
                    Checked c = outcomes.next();
                    if (c.refused() != null) refused.accept(c.refused());
                    ready = c.example();
                }
                return ready != null;
            }

            @Override
            public LabeledImage next() {
                if (!hasNext()) throw new NoSuchElementException();
                LabeledImage e = ready;
                ready = null;
                return e;
            }
        };
    }

    /** Of the examples at the given (increasing) indices, those that cannot be trained on, and why. */
    default List<Refused> refused(int[] sortedIndices) {
        List<Refused> out = new ArrayList<>();
        checked(sortedIndices, false).forEachRemaining(c -> out.add(c.refused()));
        return out;
    }

    /** The same pool without the examples at these (increasing) indices; the others are numbered anew, in order. */
    default Pool without(int[] sortedIndices) {
        if (sortedIndices.length == 0) return this;
        throw new UnsupportedOperationException(describe() + ": examples cannot be left out of it");
    }

    /** Up to {@code n} indices spread evenly over the pool, increasing: what a driver samples to decide something. */
    default int[] spread(int n) {
        int k = Math.min(n, size());
        int[] idx = new int[k];
        for (int i = 0; i < k; i++) idx[i] = (int) ((long) i * size() / k);
        return idx;
    }
}
