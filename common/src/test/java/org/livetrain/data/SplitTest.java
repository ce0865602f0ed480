package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.image.Shape;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
class SplitTest {
    static Dataset digits;

    @BeforeAll
    static void open() {
        digits = Dataset.open(Dataset.DIGITS, new Configuration());
    }

    @Test
    void bundledDigitsAreRealAndComplete() {
        assertEquals(10_000, digits.pool().size());
        assertEquals(10, digits.numClasses());
        assertEquals(new Shape(28, 28, 1), digits.shape());
        // real handwriting: MNIST-like ink coverage (about a fifth of the pixels lit), not blank or noise
        int[] some = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        var it = digits.pool().read(some);
        while (it.hasNext()) {
            float[] px = it.next().pixels();
            long lit = 0;
            for (float v : px) if (v > 0.1f) lit++;
            assertTrue(lit > 40 && lit < 350, "lit pixels " + lit);
        }
    }

    @Test
    void digitsSplitIs8000_1000_1000AndDisjoint() {
        Split s = digits.split(Split.DEFAULT_SEED);
        assertEquals(8000, s.train().length);
        assertEquals(1000, s.dev().length);
        assertEquals(1000, s.test().length);
        Set<Integer> all = new HashSet<>();
        for (int[] part : new int[][]{s.train(), s.dev(), s.test()}) for (int i : part) assertTrue(all.add(i), "index " + i + " twice");
        assertEquals(10_000, all.size());
    }

    @Test
    void splitIsDeterministicForASeed() {
        Split a = digits.split(42), b = digits.split(42), c = digits.split(43);
        assertArrayEquals(a.dev(), b.dev());
        assertArrayEquals(a.test(), b.test());
        assertFalse(Arrays.equals(a.dev(), c.dev()));
    }

    @Test
    void splitIsStratified() {
        int[] labels = digits.pool().labels();
        Split s = digits.split(Split.DEFAULT_SEED);
        int[] total = count(labels, null), dev = count(labels, s.dev()), test = count(labels, s.test());
        for (int c = 0; c < 10; c++) {
            double expected = total[c] * 0.1;
            assertTrue(Math.abs(dev[c] - expected) <= 1, "class " + c + ": dev " + dev[c] + " expected " + expected);
            assertTrue(Math.abs(test[c] - expected) <= 1, "class " + c + ": test " + test[c] + " expected " + expected);
        }
    }

    @Test
    void shardsAreEqualAndDisjoint() {
        Split s = digits.split(Split.DEFAULT_SEED);
        int[][] shards = Split.shards(s.train(), 3, 1, 1);
        Set<Integer> seen = new HashSet<>();
        for (int[] sh : shards) {
            assertEquals(8000 / 3, sh.length);
            for (int k = 1; k < sh.length; k++) assertTrue(sh[k - 1] < sh[k], "shards are sorted for one sequential read");
            for (int i : sh) assertTrue(seen.add(i));
        }
        assertFalse(Arrays.equals(Split.shards(s.train(), 3, 1, 1)[0], Split.shards(s.train(), 3, 1, 2)[0]), "each epoch deals anew");
        int[][] fixed = Split.fixedShards(s.train(), 3, 1);
        assertArrayEquals(fixed[1], Split.fixedShards(s.train(), 3, 1)[1], "a run deals once: each worker keeps its shard");
        assertEquals(s.train().length / 3 * 3, Arrays.stream(fixed).flatMapToInt(Arrays::stream).distinct().count(), "disjoint");
    }

    private static int[] count(int[] labels, int[] idx) {
        int[] c = new int[10];
        if (idx == null) for (int l : labels) c[l]++;
        else for (int i : idx) c[labels[i]]++;
        return c;
    }
}
