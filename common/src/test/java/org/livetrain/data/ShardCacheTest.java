package org.livetrain.data;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A worker's shard kept for every epoch: in memory when it fits, on local disk when it does not, each example once an epoch. */
@Tag("fast")
class ShardCacheTest {
    @TempDir
    Path dir;

    /** {@code n} examples of 784 pixels, sorted by label as a folder's listing is (class by class). */
    private static List<LabeledImage> examples(int n) {
        List<LabeledImage> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] p = new float[784];
            p[i % 784] = i;
            out.add(new LabeledImage(i, i * 10 / n, p));
        }
        return out;
    }

    private static List<LabeledImage> drain(Iterator<LabeledImage> it) {
        List<LabeledImage> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    @Test
    void aShardThatFitsIsShuffledAsAWholeInMemory() throws IOException {
        List<LabeledImage> all = examples(1000);
        try (ShardCache c = ShardCache.of(all.iterator(), all.size(), 1L << 30, dir, 1)) {
            assertFalse(c.spilled());
            List<LabeledImage> expected = new ArrayList<>(all);
            Collections.shuffle(expected, new Random(5));
            assertEquals(expected, drain(c.epoch(new Random(5))), "the order a whole-shard shuffle gives");
        }
    }

    @Test
    void aShardLargerThanItsBudgetGoesToDiskAndComesBackWholeEachEpochInAnotherOrder() throws IOException {
        List<LabeledImage> all = examples(3000); // about 9.6 MB of pixels
        Path spill = dir.resolve("local");
        ShardCache c = ShardCache.of(all.iterator(), all.size(), 1L << 20, spill, 1);
        try (Stream<Path> files = Files.list(Files.list(spill).findFirst().orElseThrow())) {
            assertTrue(c.spilled());
            assertTrue(files.count() >= 30, "buckets of a quarter of the budget each");
        }
        List<LabeledImage> one = drain(c.epoch(new Random(1))), two = drain(c.epoch(new Random(2)));
        for (List<LabeledImage> epoch : List.of(one, two)) {
            assertEquals(3000, epoch.size());
            boolean[] seen = new boolean[3000];
            for (LabeledImage e : epoch) {
                assertFalse(seen[e.index()], "each example once an epoch");
                seen[e.index()] = true;
                assertEquals(all.get(e.index()).label(), e.label());
                assertArrayEquals(all.get(e.index()).pixels(), e.pixels());
            }
        }
        assertNotEquals(one.stream().map(LabeledImage::index).toList(), two.stream().map(LabeledImage::index).toList());
        long labelsInFirst100 = one.subList(0, 100).stream().mapToInt(LabeledImage::label).distinct().count();
        assertEquals(10, labelsInFirst100, "a listing sorted by class comes back mixed: examples were dealt to buckets at random");
        c.close();
        assertEquals(0, Files.list(spill).count(), "closing removes the spilled files");
    }

    @Test
    void aDamagedBucketIsNamedNotReadAsPixels() throws IOException {
        List<LabeledImage> all = examples(600);
        Path spill = dir.resolve("local");
        try (ShardCache c = ShardCache.of(all.iterator(), all.size(), 1L << 20, spill, 1)) {
            Path bucket;
            try (Stream<Path> s = Files.list(Files.list(spill).findFirst().orElseThrow())) {
                bucket = s.filter(p -> p.toFile().length() > 0).findFirst().orElseThrow();
            }
            byte[] b = Files.readAllBytes(bucket);
            b[11] = 0x7f; // the first example's pixel count
            Files.write(bucket, b);
            UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> drain(c.epoch(new Random(1))));
            assertTrue(e.getMessage().contains("cannot be read back"), e.getMessage());
        }
    }
}
