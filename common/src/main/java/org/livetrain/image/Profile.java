package org.livetrain.image;

import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.LiveTrainException;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * How an image file becomes a network input: the preparation profile an {@link InputContract} names.
 * Each turns a decoded image of any size, depth and channel count into the contract's
 * {@code channels x height x width} values in [0,1]; the contract's normalisation comes after.
 */
public enum Profile {
    /**
     * One handwritten digit, prepared as MNIST was: ink bright on black, cropped to the ink, the longer side
     * scaled into a box of 20/28 of the input, centred by centre of mass. An image already so prepared (the
     * input's size, ink off its border) goes through unchanged.
     */
    DIGIT("digit", 1) {
        @Override
        float[] prepare(Mat img, InputContract c, String name) {
            return DigitProfile.prepare(img, c, name);
        }
    },
    /**
     * An object photographed or drawn on a plain background, prepared as Fashion-MNIST was: the background
     * found at the border, the object trimmed, its longer side scaled to the input's keeping the aspect
     * ratio, centred, bright on dark. An image of the input's size goes through unchanged (but for polarity).
     */
    OBJECT("object", 1) {
        @Override
        float[] prepare(Mat img, InputContract c, String name) {
            return ObjectProfile.prepare(img, c, name);
        }
    },
    /** Colour photos: the shorter side scaled to the input's, the centre cropped, red, green and blue planes. */
    RGB("rgb", 3) {
        @Override
        float[] prepare(Mat img, InputContract c, String name) {
            return RgbProfile.prepare(img, c, name);
        }
    };

    private final String id;
    private final int channels;

    Profile(String id, int channels) {
        this.id = id;
        this.channels = channels;
    }

    public String id() {
        return id;
    }

    /** The name the contract and --input-profile use. */
    @Override
    public String toString() {
        return id;
    }

    /** The channels the profile produces. */
    public int channels() {
        return channels;
    }

    /** The contract's input, {@code channels x height x width} in [0,1], from a decoded image; errors name {@code name}. */
    abstract float[] prepare(Mat img, InputContract c, String name);

    public static Profile parse(String s) {
        for (Profile p : values()) if (p.id.equals(s == null ? null : s.trim().toLowerCase(Locale.ROOT))) return p;
        throw new LiveTrainException(s + ": unknown input profile (use " + String.join(", ", ids()) + ")");
    }

    public static List<String> ids() {
        return Arrays.stream(values()).map(Profile::id).toList();
    }
}
