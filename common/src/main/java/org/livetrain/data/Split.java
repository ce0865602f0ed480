package org.livetrain.data;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The one definition of how a data set is divided into train / dev / test, and how the training part
 * is dealt to workers. Deterministic for a seed; stratified, so each class keeps its share in each part.
 *
 * <p>Three rules, one per kind of data, each said in {@link #rule} (the run's first lines and run.json):
 * <ul>
 * <li>{@link #of}, for pools whose order is fixed (the bundled digits, IDX files): stratified at random for a
 *     seed; a pool without a separate test set is split 80 / 10 / 10 (10,000 digits give exactly 8,000 / 1,000
 *     / 1,000), one with its own test set (MNIST, Fashion-MNIST) gives 10% of its training pool to dev;</li>
 * <li>{@link #byName}, for files and rows that may be added to: each example by a stable hash of its name
 *     (a file's path under its folder), about 80 / 10 / 10, so that adding examples never moves one that
 *     was in dev or test into training;</li>
 * <li>{@link #byParts}, when the data says it itself (sub-folders {@code train/}, {@code dev/}, {@code test/}).</li>
 * </ul>
 *
 * @param train indices into the training pool
 * @param dev indices into the training pool
 * @param test indices into the test pool if there is one, else into the training pool
 * @param rule how it was made, in words
 */
public record Split(int[] train, int[] dev, int[] test, boolean separateTest, String rule) {
    public static final long DEFAULT_SEED = 20261125L;
    public static final double DEV_FRACTION = 0.1;
    public static final double TEST_FRACTION = 0.1;

    public static Split of(int[] poolLabels, int testPoolSize, long seed) {
        boolean separate = testPoolSize > 0;
        int n = poolLabels.length;
        int classes = Arrays.stream(poolLabels).max().orElse(-1) + 1;
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) byClass.add(new ArrayList<>());
        for (int i = 0; i < n; i++) byClass.get(poolLabels[i]).add(i);
        Random rnd = new Random(seed);
        for (List<Integer> l : byClass) Collections.shuffle(l, rnd);

        int[] devQuota = quotas(byClass, (int) Math.round(n * DEV_FRACTION), new int[classes]);
        int[] testQuota = separate ? new int[classes] : quotas(byClass, (int) Math.round(n * TEST_FRACTION), devQuota);
        List<Integer> train = new ArrayList<>(), dev = new ArrayList<>(), test = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            List<Integer> l = byClass.get(c);
            dev.addAll(l.subList(0, devQuota[c]));
            test.addAll(l.subList(devQuota[c], devQuota[c] + testQuota[c]));
            train.addAll(l.subList(devQuota[c] + testQuota[c], l.size()));
        }
        int[] testIdx = separate ? range(testPoolSize) : sorted(test);
        return new Split(sorted(train), sorted(dev), testIdx, separate, separate
                ? "stratified at random (seed " + seed + "): 10% of the training pool to dev, the test files to test"
                : "stratified at random (seed " + seed + "): 80/10/10");
    }

    /** Which part an example belongs to, when the data says it: {@link #TRAIN}, {@link #DEV} or {@link #TEST}, or {@link #UNSAID}. */
    public static final byte TRAIN = 0, DEV = 1, TEST = 2, UNSAID = -1;

    /**
     * By a stable hash of each example's name (with the seed): about {@value #DEV_FRACTION} to dev and
     * {@value #TEST_FRACTION} to test, whatever else the pool holds or in which order it was listed.
     */
    public static Split byName(String[] names, long seed) {
        byte[] parts = new byte[names.length];
        Arrays.fill(parts, UNSAID);
        return byParts(parts, names, seed, "by a hash of each file's path (seed " + seed + "): about 80/10/10, stable as files are added");
    }

    /**
     * By the part each example's data says ({@link #TRAIN}, {@link #DEV}, {@link #TEST}); an example whose part is
     * not said ({@link #UNSAID}) goes by the hash of its name, as {@link #byName}, and so does a training example
     * whose hash falls in dev or test when the data says no example is in that part.
     */
    public static Split byParts(byte[] parts, String[] names, long seed, String rule) {
        boolean[] said = new boolean[3];
        for (byte part : parts) if (part != UNSAID) said[part] = true;
        List<Integer> train = new ArrayList<>(), dev = new ArrayList<>(), test = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            byte part = parts[i];
            if (part == UNSAID || part == TRAIN) {
                byte hashed = hashedPart(names[i], seed);
                if (part == UNSAID || !said[hashed]) part = hashed;
            }
            (part == DEV ? dev : part == TEST ? test : train).add(i);
        }
        return new Split(sorted(train), sorted(dev), sorted(test), false, rule);
    }

    /** The part a name falls in: its hash with the seed, as a fraction in [0, 1). */
    static byte hashedPart(String name, long seed) {
        byte[] h;
        try {
            h = MessageDigest.getInstance("SHA-256").digest((seed + "\n" + name).getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        double u = (ByteBuffer.wrap(h).getLong() >>> 11) * 0x1.0p-53;
        return u < DEV_FRACTION ? DEV : u < DEV_FRACTION + TEST_FRACTION ? TEST : TRAIN;
    }

    /**
     * Deals the training indices of one epoch to {@code workers} shards of equal size (the few left over
     * wait for the next epoch's shuffle), each sorted so that it is read in one sequential pass.
     */
    public static int[][] shards(int[] train, int workers, long seed, int epoch) {
        int[] order = train.clone();
        Random rnd = new Random(seed * 31 + epoch);
        for (int i = order.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int per = order.length / workers;
        int[][] shards = new int[workers][per];
        for (int w = 0; w < workers; w++) {
            for (int k = 0; k < per; k++) shards[w][k] = order[k * workers + w];
            Arrays.sort(shards[w]);
        }
        return shards;
    }

    /**
     * Deals the training indices once for a whole run: each worker keeps its shard every epoch (so it reads and
     * decodes it once and shuffles it within itself each epoch), as Horovod's and tf.data's sharded readers do.
     * The few indices left over by an uneven deal (fewer than {@code workers}) are not trained on.
     */
    public static int[][] fixedShards(int[] train, int workers, long seed) {
        return shards(train, workers, seed, 0);
    }

    /** Contiguous slices of a sorted index array, for evaluation spread over {@code parts} tasks. */
    public static int[][] slices(int[] indices, int parts) {
        int[][] out = new int[parts][];
        for (int p = 0; p < parts; p++) {
            int from = (int) ((long) indices.length * p / parts), to = (int) ((long) indices.length * (p + 1) / parts);
            out[p] = Arrays.copyOfRange(indices, from, to);
        }
        return out;
    }

    /** Per-class counts adding up to exactly {@code total}, proportional to what each class still has (largest remainder). */
    private static int[] quotas(List<List<Integer>> byClass, int total, int[] taken) {
        int classes = byClass.size();
        long available = 0;
        for (int c = 0; c < classes; c++) available += byClass.get(c).size() - taken[c];
        int[] q = new int[classes];
        double[] rem = new double[classes];
        int sum = 0;
        for (int c = 0; c < classes; c++) {
            double exact = available == 0 ? 0 : (double) total * (byClass.get(c).size() - taken[c]) / available;
            q[c] = (int) Math.floor(exact);
            rem[c] = exact - q[c];
            sum += q[c];
        }
        Integer[] order = new Integer[classes];
        for (int c = 0; c < classes; c++) order[c] = c;
        Arrays.sort(order, (a, b) -> rem[b] != rem[a] ? Double.compare(rem[b], rem[a]) : Integer.compare(a, b));
        for (int k = 0; sum < total && k < classes; k++, sum++) q[order[k]]++;
        return q;
    }

    private static int[] sorted(List<Integer> l) {
        return l.stream().mapToInt(Integer::intValue).sorted().toArray();
    }

    private static int[] range(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }
}
