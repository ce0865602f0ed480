package org.livetrain.image;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
class AugmenterTest {
    @Test
    void distortsARealDigitSlightlyAndReproducibly() {
        LabeledImage digit = Dataset.open(Dataset.DIGITS, new Configuration()).pool().read(new int[]{7}).next();
        float[] a = Augmenter.warp(digit.pixels(), 28, 28, new Random(1));
        float[] b = Augmenter.warp(digit.pixels(), 28, 28, new Random(1));
        float[] c = Augmenter.warp(digit.pixels(), 28, 28, new Random(2));
        assertArrayEquals(a, b, "same seed, same distortion");
        assertFalse(Arrays.equals(a, c), "another seed, another distortion");
        assertFalse(Arrays.equals(a, digit.pixels()), "the image changed");
        double inkBefore = 0, inkAfter = 0;
        for (int i = 0; i < 784; i++) {
            inkBefore += digit.pixels()[i];
            inkAfter += a[i];
            assertTrue(a[i] >= 0 && a[i] <= 1);
        }
        // scaling by at most 10% changes the amount of ink by at most about 21%; the digit stays in the frame
        assertEquals(1.0, inkAfter / inkBefore, 0.3, "ink kept: " + inkAfter + " vs " + inkBefore);
    }

    /** Objects and photos are mirrored and shifted, every channel alike, never warped. */
    @Test
    void objectsAndPhotosAreFlippedAndShiftedAlikeInEveryChannel() {
        float[] img = new float[3 * 4 * 5];
        for (int i = 0; i < img.length; i++) img[i] = i % 20; // the same picture in the three planes
        InputContract rgb = InputContract.of(new Shape(4, 5, 3), Profile.RGB, List.of("a", "b"));
        boolean flipped = false;
        for (int seed = 0; seed < 20; seed++) {
            float[] out = Augmenter.augment(img, rgb, rgb.profile(), new Random(seed));
            for (int i = 0; i < 20; i++) {
                assertEquals(out[i], out[20 + i]);
                assertEquals(out[i], out[40 + i]);
            }
            Set<Float> values = new HashSet<>();
            for (float v : out) values.add(v);
            for (float v : values) assertTrue(v == 0 || v == Math.rint(v), "values moved, not interpolated: " + v);
            flipped |= out[0] == 4 || out[0] == 3; // the first pixel taken from the right-hand end of the first row
        }
        assertTrue(flipped, "mirrored at least once in 20");
    }
}
