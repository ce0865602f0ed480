package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.Storage;

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
 * test pool, the input shape and the class names.
 */
public record Dataset(String spec, Shape shape, List<String> classNames, Pool pool, Pool testPool) implements Serializable {
    public static final String DIGITS = "digits";
    public static final String FASHION = "fashion";
    public static final String FASHION_DIR = "/usr/share/datasets/fashion-mnist";
    private static final String DIGITS_RESOURCE = Storage.CLASSPATH + "livetrain/data/digits/";
    private static final List<String> FASHION_CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    /** {@code <prefix>-images-idx3-ubyte[.gz]} and {@code <prefix>-labels-idx1-ubyte[.gz]}, also MNIST's dotted variant. */
    private static final Pattern IDX_NAME = Pattern.compile("(.+)-(images|labels)[-.]idx([13])-ubyte(\\.gz)?");

    public int numClasses() {
        return classNames.size();
    }

    /** The pool that the split's test indices refer to. */
    public Pool testSource() {
        return testPool != null ? testPool : pool;
    }

    public Split split(long seed) {
        return Split.of(pool.labels(), testPool == null ? 0 : testPool.size(), seed);
    }

    public static Dataset open(String spec, Configuration conf) {
        if (spec == null || spec.isBlank()) throw new LiveTrainException("--data: empty data spec (use digits, fashion, idx:DIR or folder:DIR)");
        if (spec.equals(DIGITS)) {
            IdxPool pool = IdxPool.open(DIGITS_RESOURCE + "digits-images-idx3-ubyte.gz", DIGITS_RESOURCE + "digits-labels-idx1-ubyte.gz", conf);
            return new Dataset(spec, pool.shape(), numbered(pool.labels(), null), pool, null);
        }
        if (spec.equals(FASHION)) {
            if (!new java.io.File(FASHION_DIR).isDirectory()) {
                throw new LiveTrainException("--data fashion: " + FASHION_DIR + " not found; install it with: sudo apt-get install dataset-fashion-mnist"
                        + " (or pass idx:DIR with the Fashion-MNIST IDX files)");
            }
            Dataset d = idx(FASHION_DIR, spec, conf);
            return new Dataset(spec, d.shape(), FASHION_CLASSES, d.pool(), d.testPool());
        }
        if (spec.startsWith("idx:")) return idx(spec.substring(4), spec, conf);
        if (spec.startsWith("folder:")) {
            FolderPool pool = FolderPool.open(Path.of(spec.substring(7)).toAbsolutePath().normalize());
            return new Dataset(spec, new Shape(ImagePreprocessor.SIZE, ImagePreprocessor.SIZE, 1), pool.classNames(), pool, null);
        }
        throw new LiveTrainException("--data " + spec + ": unknown data spec (use digits, fashion, idx:DIR or folder:DIR)");
    }

    /**
     * A folder of IDX files. {@code train-*} and {@code t10k-*} (or {@code test-*}) are the training and test
     * pools; a folder with a single pair of files is one pool that the split divides three ways.
     */
    private static Dataset idx(String dir, String spec, Configuration conf) {
        if (dir.isBlank()) throw new LiveTrainException("--data " + spec + ": missing folder after idx:");
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
        return new Dataset(spec, pool.shape(), numbered(pool.labels(), testPool == null ? null : testPool.labels()), pool, testPool);
    }

    private static List<String> numbered(int[] labels, int[] testLabels) {
        int max = Arrays.stream(labels).max().orElse(0);
        if (testLabels != null) max = Math.max(max, Arrays.stream(testLabels).max().orElse(0));
        List<String> names = new ArrayList<>();
        IntStream.rangeClosed(0, max).forEach(i -> names.add(Integer.toString(i)));
        return names;
    }
}
