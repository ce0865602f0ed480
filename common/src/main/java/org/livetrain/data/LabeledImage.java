package org.livetrain.data;

import java.io.Serializable;

/**
 * One example: its index in its pool, its label, and its pixels in [0,1], ink bright, row-major
 * (exactly what the network is fed).
 */
public record LabeledImage(int index, int label, float[] pixels) implements Serializable {
}
