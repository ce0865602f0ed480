package org.livetrain.image;

import java.io.Serializable;

/** The input shape of the network: height x width x channels, as the data set defines it. */
public record Shape(int height, int width, int channels) implements Serializable {
    public int pixels() {
        return height * width * channels;
    }

    @Override
    public String toString() {
        return height + "x" + width + (channels == 1 ? "" : "x" + channels);
    }
}
