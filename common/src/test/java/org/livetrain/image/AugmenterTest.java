package org.livetrain.image;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AugmenterTest {
    @Test
    void distortsARealDigitSlightlyAndReproducibly() {
        LabeledImage digit = Dataset.open(Dataset.DIGITS, new Configuration()).pool().read(new int[]{7}).next();
        float[] a = Augmenter.augment(digit.pixels(), 28, 28, new Random(1));
        float[] b = Augmenter.augment(digit.pixels(), 28, 28, new Random(1));
        float[] c = Augmenter.augment(digit.pixels(), 28, 28, new Random(2));
        assertArrayEquals(a, b, "same seed, same distortion");
        assertFalse(java.util.Arrays.equals(a, c), "another seed, another distortion");
        assertFalse(java.util.Arrays.equals(a, digit.pixels()), "the image changed");
        double inkBefore = 0, inkAfter = 0;
        for (int i = 0; i < 784; i++) {
            inkBefore += digit.pixels()[i];
            inkAfter += a[i];
            assertTrue(a[i] >= 0 && a[i] <= 1);
        }
        // scaling by at most 10% changes the amount of ink by at most about 21%; the digit stays in the frame
        assertEquals(1.0, inkAfter / inkBefore, 0.3, "ink kept: " + inkAfter + " vs " + inkBefore);
    }
}
