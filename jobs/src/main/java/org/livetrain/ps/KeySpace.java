package org.livetrain.ps;

import java.io.Serializable;
import java.util.Map;
import java.util.TreeMap;

/**
 * The keys a job uses and how many values each carries: a shard accepts nothing else, so a peer cannot make
 * it hold keys, or values, the job does not have. Tensors are cut into chunks ({@link #tensor}); single keys
 * are added with {@link #plus}. Keys of weights (asynchronous mode) are accepted only when {@link #withWeights}.
 */
public final class KeySpace implements Serializable {
    /** key of a range's first chunk -> {chunks, chunk length, last chunk's length} */
    private final TreeMap<Integer, int[]> ranges = new TreeMap<>();
    private final boolean weights;

    private KeySpace(Map<Integer, int[]> ranges, boolean weights) {
        this.ranges.putAll(ranges);
        this.weights = weights;
    }

    /** The chunks of a tensor of {@code floats} values cut into {@code chunkFloats}: keys {@code keyBase, keyBase+1, ...}. */
    public static KeySpace tensor(int keyBase, long floats, int chunkFloats) {
        return new KeySpace(Map.of(), false).plusTensor(keyBase, floats, chunkFloats);
    }

    public KeySpace plusTensor(int keyBase, long floats, int chunkFloats) {
        long chunks = (floats + chunkFloats - 1) / chunkFloats;
        if (floats < 1 || chunkFloats < 1 || chunks > Integer.MAX_VALUE - (long) keyBase) throw new IllegalArgumentException("no such tensor");
        KeySpace k = new KeySpace(ranges, weights);
        int last = (int) (floats - (chunks - 1) * chunkFloats);
        k.ranges.put(keyBase, new int[]{(int) chunks, chunkFloats, last});
        return k;
    }

    /** One key more, of {@code length} values. */
    public KeySpace plus(int key, int length) {
        return plusTensor(key, length, length);
    }

    /** The same keys, which may also hold weights (asynchronous mode). */
    public KeySpace withWeights() {
        return new KeySpace(ranges, true);
    }

    boolean weights() {
        return weights;
    }

    /** How many values {@code key} carries, or -1 when the job has no such key. */
    int lengthOf(int key) {
        Map.Entry<Integer, int[]> e = ranges.floorEntry(key);
        if (e == null) return -1;
        int[] r = e.getValue();
        long i = (long) key - e.getKey();
        if (i >= r[0]) return -1;
        return i == r[0] - 1 ? r[2] : r[1];
    }

    /** The longest key, in values. */
    int maxLength() {
        int max = 0;
        for (int[] r : ranges.values()) max = Math.max(max, Math.max(r[1], r[2]));
        return max;
    }
}
