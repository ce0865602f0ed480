package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
import org.livetrain.io.HadoopConf;
import org.livetrain.io.ImageFiles;
import org.livetrain.io.ReadAhead;
import org.livetrain.io.Storage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.IntFunction;

/**
 * Images kept encoded (PNG, JPEG, ... in files or in table cells), each read on an executor and decoded there
 * from memory by the one {@link ImagePreprocessor}, driven by the data set's {@link InputContract}, as serving
 * prepares a file. A subclass says where an example's bytes come from ({@link #encoded}); decoding, refusing,
 * sampling and normalising are the same for every source.
 */
abstract class EncodedPool implements Pool {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(EncodedPool.class);

    /**
     * An example's bytes and its name for messages, or why they could not be read (then {@code bytes} is null).
     * With {@code raw} (height, width, channels) the bytes are pixels as OpenCV keeps them (BGR, row by row),
     * as Spark's image source stores them; otherwise an encoded file.
     */
    record Encoded(int index, byte[] bytes, String name, String problem, int[] raw) {
        Encoded(int index, byte[] bytes, String name) {
            this(index, bytes, name, null, null);
        }

        static Encoded failed(int index, String name, String problem) {
            return new Encoded(index, null, name, problem, null);
        }

        /** The image as OpenCV holds it: decoded from its file format, or wrapped from raw pixels after checking their size. */
        Mat image(ImagePreprocessor pre) {
            if (bytes == null) throw new LiveTrainException(problem);
            return raw == null ? pre.decode(bytes, name) : pre.raw(bytes, raw[0], raw[1], raw[2], name);
        }
    }

    /** The positions of {@code size} examples that are not among {@code sortedLeftOut}, in order: what {@link #without} keeps. */
    static int[] kept(int size, int[] sortedLeftOut) {
        int[] kept = new int[size - sortedLeftOut.length];
        for (int i = 0, k = 0, j = 0; i < size; i++) {
            if (j < sortedLeftOut.length && sortedLeftOut[j] == i) j++;
            else kept[k++] = i;
        }
        return kept;
    }

    /** The entries of {@code a} at {@code positions}; null stays null. */
    static byte[] pick(byte[] a, int[] positions) {
        if (a == null) return null;
        byte[] out = new byte[positions.length];
        for (int k = 0; k < positions.length; k++) out[k] = a[positions[k]];
        return out;
    }

    /** Files read at once on an executor, ahead of decoding. */
    private static final int READERS = 8;

    /**
     * The files at these examples' locations (any Hadoop URI, each through its own file system), read whole,
     * {@link #READERS} at a time ahead of decoding, at most {@link ImageFiles#DEFAULT_MAX_BYTES} each.
     */
    static Iterator<Encoded> files(int[] sortedIndices, IntFunction<String> location, HadoopConf conf) {
        Configuration c = conf.get();
        return new ReadAhead<>(sortedIndices, i -> {
            String where = location.apply(i);
            try {
                Path p = Storage.path(where);
                return new Encoded(i, Storage.readAll(Storage.fs(p, c), p, ImageFiles.DEFAULT_MAX_BYTES), where);
            } catch (IOException e) {
                return Encoded.failed(i, where, Storage.problem(where + ": cannot read", e).getMessage());
            }
        }, READERS, 4 * READERS);
    }

    /** The contract examples are prepared by; null until the data set binds one. */
    abstract InputContract contract();

    /** An example's key, the same in every listing of the same data: what a run's {@link Manifest} freezes. */
    abstract String key(int index);

    /** The bytes of the examples at these increasing indices, in that order, one per index. */
    abstract Iterator<Encoded> encoded(int[] sortedIndices);

    @Override
    public boolean examplesCanFail() {
        return true;
    }

    /** The examples that can be used, prepared; the others are skipped with a warning that names them. */
    @Override
    public Iterator<LabeledImage> read(int[] sortedIndices) {
        return Pool.examples(checked(sortedIndices, true), r -> LOG.warn("skipping training image: {}", r.why()));
    }

    /** Each example read, decoded and prepared by the contract; with {@code keep} false only the refusals are yielded. */
    @Override
    public Iterator<Checked> checked(int[] sortedIndices, boolean keep) {
        Iterator<Encoded> in = encoded(sortedIndices);
        ImagePreprocessor pre = new ImagePreprocessor(contract(), ImagePreprocessor.DEFAULT_MAX_PIXELS);
        return new Iterator<>() {
            private Checked ready;

            @Override
            public boolean hasNext() {
                while (ready == null && in.hasNext()) {
                    Encoded e = in.next();
                    try {
                        float[] pixels = prepared(pre, e);
                        if (keep) ready = new Checked(new LabeledImage(e.index(), labels()[e.index()], pixels), null);
                    } catch (LiveTrainException bad) {
                        ready = new Checked(null, new Refused(e.index(), bad.getMessage()));
                    }
                }
                return ready != null;
            }

            @Override
            public Checked next() {
                if (!hasNext()) throw new NoSuchElementException();
                Checked r = ready;
                ready = null;
                return r;
            }
        };
    }

    private float[] prepared(ImagePreprocessor pre, Encoded e) {
        if (e.bytes() != null && labels()[e.index()] < 0) throw new LiveTrainException(e.name() + ": no label");
        return pre.decoded(e.image(pre), e.name());
    }

    /** Whether at least a fifth of a sample of the images are in colour (their channels differ visibly). */
    boolean looksColour(int sample) {
        ImagePreprocessor decoder = new ImagePreprocessor();
        int colour = 0, seen = 0;
        for (Iterator<Encoded> it = encoded(spread(sample)); it.hasNext(); ) {
            Encoded e = it.next();
            float spread;
            try {
                spread = ImagePreprocessor.colourSpread(e.image(decoder)); // an unreadable one is named by the data check
            } catch (LiveTrainException bad) {
                continue;
            }
            seen++;
            if (spread > 0.04f) colour++;
        }
        return seen > 0 && colour * 5 >= seen;
    }

    /** {@code c} with the per-channel mean and deviation of a sample of the images, as {@code c} prepares them. */
    InputContract normalisation(InputContract c, int sample) {
        int channels = c.channels(), plane = c.height() * c.width();
        double[] sum = new double[channels], sq = new double[channels];
        long n = 0;
        Iterator<LabeledImage> it = withContract(c).read(spread(sample));
        while (it.hasNext()) {
            float[] px = it.next().pixels();
            for (int ch = 0; ch < channels; ch++) {
                for (int i = ch * plane; i < (ch + 1) * plane; i++) {
                    sum[ch] += px[i];
                    sq[ch] += px[i] * px[i];
                }
            }
            n += plane;
        }
        if (n == 0) throw new LiveTrainException(describe() + ": none of " + Math.min(sample, size()) + " sampled images could be read");
        float[] mean = new float[channels], std = new float[channels];
        for (int ch = 0; ch < channels; ch++) {
            mean[ch] = (float) (sum[ch] / n);
            std[ch] = (float) Math.max(1e-3, Math.sqrt(Math.max(0, sq[ch] / n - mean[ch] * mean[ch])));
        }
        return c.withNormalisation(mean, std);
    }

    /** The class names, label {@code i} naming class {@code i}. */
    public abstract List<String> classNames();

    @Override
    public abstract EncodedPool withContract(InputContract c);

    /** Train / dev / test as this source says them. */
    public abstract Split split(long seed);
}
