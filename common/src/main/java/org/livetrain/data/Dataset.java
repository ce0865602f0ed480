package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.image.Shape;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
import org.livetrain.image.Profile;
import org.livetrain.io.Storage;
import org.livetrain.spark.SparkTables;

import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * A data set as named by {@code --data}: {@code digits} (bundled), {@code fashion} (Debian's
 * dataset-fashion-mnist), {@code idx:DIR} or {@code folder:DIR}. A training pool, optionally a separate
 * test pool, and the {@link InputContract} its examples are prepared by (input shape, preparation profile,
 * normalisation, class names), which every checkpoint trained on it carries.
 *
 * <p>Each data set chooses its profile ({@code --input-profile} overrides it): {@code digits} digit,
 * {@code fashion} object; {@code idx:DIR} digit when its images look like MNIST's (their outer
 * {@value #MARGIN} rows and columns almost always empty), object otherwise; {@code folder:DIR} rgb when
 * its images are in colour (3 channels, normalised per channel from the training images), digit otherwise
 * ({@code --channels} overrides the choice).
 */
public record Dataset(String spec, InputContract contract, Pool pool, Pool testPool) implements Serializable {
    /** The rows and columns around an MNIST digit that are empty (the 20x20 box in a 28x28 field leaves 4). */
    static final int MARGIN = 3;
    /** Examples looked at to decide a profile or to measure the normalisation. */
    static final int SAMPLE = 500;
    public static final String DIGITS = "digits";
    public static final String FASHION = "fashion";
    public static final String FASHION_DIR = "/usr/share/datasets/fashion-mnist";
    private static final String DIGITS_RESOURCE = Storage.CLASSPATH + "livetrain/data/digits/";
    private static final List<String> FASHION_CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    /** {@code <prefix>-images-idx3-ubyte[.gz]} and {@code <prefix>-labels-idx1-ubyte[.gz]}, also MNIST's dotted variant. */
    private static final Pattern IDX_NAME = Pattern.compile("(.+)-(images|labels)[-.]idx([13])-ubyte(\\.gz)?");

    public Shape shape() {
        return contract.shape();
    }

    public List<String> classNames() {
        return contract.classes();
    }

    public int numClasses() {
        return classNames().size();
    }

    /** The same data set without the training pool's examples at these (increasing) indices. */
    public Dataset without(int[] sortedIndices) {
        return sortedIndices.length == 0 ? this : new Dataset(spec, contract, pool.without(sortedIndices), testPool);
    }

    /** The pool that the split's test indices refer to. */
    public Pool testSource() {
        return testPool != null ? testPool : pool;
    }

    /** Train / dev / test: by name (or by split folders) for a folder of files, which may grow; stratified for the others. */
    public Split split(long seed) {
        if (pool instanceof EncodedPool files) return files.split(seed);
        return Split.of(pool.labels(), testPool == null ? 0 : testPool.size(), seed);
    }

    public static Dataset open(String spec, Configuration conf) {
        return open(spec, ParquetPool.Columns.DEFAULT, conf);
    }

    /** The data set {@code spec} names; a table's images and labels in {@code columns}. */
    public static Dataset open(String spec, ParquetPool.Columns columns, Configuration conf) {
        if (spec == null || spec.isBlank()) throw new LiveTrainException("\"\": no data set named (use digits, fashion, idx:DIR, folder:URI, parquet:URI or table:NAME)");
        if (spec.equals(DIGITS)) {
            IdxPool pool = IdxPool.open(DIGITS_RESOURCE + "digits-images-idx3-ubyte.gz", DIGITS_RESOURCE + "digits-labels-idx1-ubyte.gz", conf);
            return bound(spec, InputContract.of(pool.shape(), Profile.DIGIT, numbered(pool.labels(), null)), pool, null);
        }
        if (spec.equals(FASHION)) {
            if (!new File(FASHION_DIR).isDirectory()) {
                throw new LiveTrainException("fashion: " + FASHION_DIR + " not found; install it with: sudo apt-get install dataset-fashion-mnist"
                        + " (or pass idx:DIR with the Fashion-MNIST IDX files)");
            }
            Dataset d = idx(FASHION_DIR, spec, conf);
            return bound(spec, InputContract.of(d.shape(), Profile.OBJECT, FASHION_CLASSES), d.pool(), d.testPool());
        }
        if (spec.startsWith("idx:")) return idx(spec.substring(4), spec, conf);
        if (spec.startsWith("folder:")) return encoded(spec, FolderPool.open(spec.substring(7), conf));
        if (spec.startsWith("parquet:")) return encoded(spec, ParquetPool.open(spec.substring(8), columns, conf));
        if (spec.startsWith("table:")) return encoded(spec, ParquetPool.ofFiles(spec, SparkTables.files(spec.substring(6)), columns, conf));
        throw new LiveTrainException(spec + ": unknown data spec (use digits, fashion, idx:DIR, folder:URI, parquet:URI or table:NAME)");
    }

    /**
     * A folder of IDX files. {@code train-*} and {@code t10k-*} (or {@code test-*}) are the training and test
     * pools; a folder with a single pair of files is one pool that the split divides three ways.
     */
    private static Dataset idx(String dir, String spec, Configuration conf) {
        if (dir.isBlank()) throw new LiveTrainException(spec + ": missing folder after idx:");
        org.apache.hadoop.fs.Path root = Storage.path(dir);
        Map<String, String[]> pairs = new TreeMap<>(); // prefix -> {images, labels}
        try {
            var fs = Storage.fs(root, conf);
            if (!fs.exists(root) || !fs.getFileStatus(root).isDirectory()) throw new LiveTrainException(dir + ": no such folder (idx: expects a folder of IDX files)");
            for (var st : fs.listStatus(root)) {
                Matcher m = IDX_NAME.matcher(st.getPath().getName());
                if (!st.isFile() || !m.matches()) continue;
                String[] pair = pairs.computeIfAbsent(m.group(1), k -> new String[2]);
                int slot = m.group(2).equals("images") ? 0 : 1;
                if (pair[slot] == null || m.group(4) == null) pair[slot] = st.getPath().toString(); // prefer the unzipped copy
            }
        } catch (IOException e) {
            throw new LiveTrainException(dir + ": cannot list folder (" + e.getMessage() + ")", e);
        }
        pairs.values().removeIf(p -> p[0] == null || p[1] == null);
        if (pairs.isEmpty()) throw new LiveTrainException(dir + ": no pair of IDX files (<name>-images-idx3-ubyte[.gz] with <name>-labels-idx1-ubyte[.gz])");
        String[] train = pairs.get("train"), test = pairs.getOrDefault("t10k", pairs.get("test"));
        IdxPool pool, testPool = null;
        if (train != null) {
            pool = IdxPool.open(train[0], train[1], conf);
            if (test != null) testPool = IdxPool.open(test[0], test[1], conf);
        } else if (pairs.size() == 1) {
            String[] only = pairs.values().iterator().next();
            pool = IdxPool.open(only[0], only[1], conf);
        } else {
            throw new LiveTrainException(dir + ": several IDX pairs " + pairs.keySet() + " and none named train-*; keep one pair, or train-* with t10k-*");
        }
        if (testPool != null && !testPool.shape().equals(pool.shape())) {
            throw new LiveTrainException(testPool.describe() + ": images are " + testPool.shape() + " but the training images are " + pool.shape());
        }
        Profile profile = pool.looksLikeMnist(MARGIN, SAMPLE) ? Profile.DIGIT : Profile.OBJECT;
        return bound(spec, InputContract.of(pool.shape(), profile, numbered(pool.labels(), testPool == null ? null : testPool.labels())), pool, testPool);
    }

    /**
     * The same data prepared otherwise: {@code profile} and {@code channels} as given on the command line
     * (null and 0: the data set's own choice). Only images in files can change their channels.
     */
    public Dataset prepared(Profile p, int channels) {
        if (channels != 0 && channels != 1 && channels != 3) throw new IllegalArgumentException("channels " + channels + ": 1 or 3");
        int ch = channels != 0 ? channels : p != null && p.channels() != 0 ? p.channels() : contract.channels();
        if (pool instanceof EncodedPool files) {
            Profile chosen = p != null ? p : ch == contract.channels() ? contract.profile() : ch == 3 ? Profile.RGB : Profile.DIGIT;
            if (chosen.channels() != ch) throw new LiveTrainException("input profile " + chosen.id() + " prepares " + chosen.channels()
                    + " channel(s), not the " + ch + " asked for");
            return chosen == contract.profile() && ch == contract.channels() ? this : encoded(spec, files, ch, chosen);
        }
        if (ch != contract.channels()) throw new LiveTrainException(spec + " holds " + contract.shape() + " grey images in IDX files; colour needs encoded images (folder:URI, parquet:URI)");
        return p == null || p == contract.profile() ? this : bound(spec, contract.withProfile(p), pool, testPool);
    }

    /** Encoded images: rgb when a sample of them looks in colour, digit otherwise. */
    private static Dataset encoded(String spec, EncodedPool pool) {
        int channels = pool.looksColour(SAMPLE) ? 3 : 1;
        return encoded(spec, pool, channels, channels == 3 ? Profile.RGB : Profile.DIGIT);
    }

    /** Encoded images' data set: the input's size, the channels and profile given, normalised per channel when in colour. */
    private static Dataset encoded(String spec, EncodedPool pool, int channels, Profile profile) {
        InputContract c = InputContract.of(new Shape(ImagePreprocessor.SIZE, ImagePreprocessor.SIZE, channels), profile, pool.classNames());
        if (channels == 3) c = pool.withContract(c).normalisation(c, SAMPLE);
        return bound(spec, c, pool, null);
    }

    /** The data set whose pools prepare and normalise their examples by {@code c}. */
    private static Dataset bound(String spec, InputContract c, Pool pool, Pool testPool) {
        return new Dataset(spec, c, pool.withContract(c), testPool == null ? null : testPool.withContract(c));
    }

    private static List<String> numbered(int[] labels, int[] testLabels) {
        int max = Arrays.stream(labels).max().orElse(0);
        if (testLabels != null) max = Math.max(max, Arrays.stream(testLabels).max().orElse(0));
        List<String> names = new ArrayList<>();
        IntStream.rangeClosed(0, max).forEach(i -> names.add(Integer.toString(i)));
        return names;
    }
}
