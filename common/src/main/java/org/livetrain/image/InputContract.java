package org.livetrain.image;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.livetrain.LiveTrainException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * What a model's input is, saved with every checkpoint ({@code meta.json}'s {@code input}, and
 * {@value #ZIP_ENTRY} inside {@code model.zip} so that a model file on its own is still usable). Training
 * data and every serving path prepare an image through {@link ImagePreprocessor} driven by this contract,
 * so that a file is prepared the way the training data were.
 * <pre>
 * field     meaning
 * version   {@value #VERSION}; a server refuses a contract of a later version
 * height    rows of the network's input
 * width     columns
 * channels  1 (grey) or 3 (red, green, blue planes, in that order)
 * profile   how an image file becomes an input (see {@link Profile}): digit | object | rgb
 * mean      per channel, subtracted after the profile's values in [0,1]; absent: 0
 * std       per channel, divided by after the mean; absent: 1
 * classes   the class names, by output index
 * </pre>
 * The input is laid out channel by channel, each row-major (DL4J's NCHW, flattened).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record InputContract(
        @JsonProperty("version") int version,
        @JsonProperty("height") int height,
        @JsonProperty("width") int width,
        @JsonProperty("channels") int channels,
        @JsonProperty("profile") String profileId,
        @JsonProperty("mean") float[] mean,
        @JsonProperty("std") float[] std,
        @JsonProperty("classes") List<String> classes) implements Serializable {

    public static final int VERSION = 1;
    /** Where the contract is inside a checkpoint's model.zip. */
    public static final String ZIP_ENTRY = "livetrain/input.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A contract without normalisation. */
    public static InputContract of(Shape shape, Profile profile, List<String> classes) {
        return new InputContract(VERSION, shape.height(), shape.width(), shape.channels(), profile.id(), null, null, List.copyOf(classes));
    }

    /**
     * What a checkpoint written before contracts existed was served with: a 28x28 grey input prepared as a
     * handwritten digit (then the only recipe).
     */
    public static InputContract before(List<String> classes) {
        return new InputContract(VERSION, ImagePreprocessor.SIZE, ImagePreprocessor.SIZE, 1, Profile.DIGIT.id(), null, null, classes);
    }

    @JsonIgnore
    public Shape shape() {
        return new Shape(height, width, channels);
    }

    /** How an image file becomes this input; a profile this LiveTrain does not know is refused ({@link #check}). */
    @JsonIgnore
    public Profile profile() {
        return Profile.parse(profileId);
    }

    /** The same contract with another profile. */
    public InputContract withProfile(Profile p) {
        return new InputContract(version, height, width, channels, p.id(), mean, std, classes);
    }

    /** The same contract with per-channel normalisation. */
    public InputContract withNormalisation(float[] channelMean, float[] channelStd) {
        return new InputContract(version, height, width, channels, profileId, channelMean, channelStd, classes);
    }

    /**
     * Checks that this server can honour the contract; the error says what it cannot, naming {@code where}
     * the contract came from.
     */
    public InputContract check(String where) {
        if (version > VERSION) {
            throw new LiveTrainException(where + ": input contract version " + version + " is newer than this LiveTrain understands (" + VERSION
                    + "); upgrade the server");
        }
        if (height < 1 || width < 1 || (channels != 1 && channels != 3)) {
            throw new LiveTrainException(where + ": input contract with an unusable shape " + height + "x" + width + "x" + channels);
        }
        Profile p;
        try {
            p = Profile.parse(profileId);
        } catch (LiveTrainException e) {
            throw new LiveTrainException(where + ": input contract with unknown profile " + profileId + " (this LiveTrain knows "
                    + String.join(", ", Profile.ids()) + ")");
        }
        if (p.channels() != 0 && p.channels() != channels) {
            throw new LiveTrainException(where + ": input contract profile " + profileId + " with " + channels + " channel(s)");
        }
        for (float[] v : new float[][]{mean, std}) {
            if (v != null && v.length != channels) throw new LiveTrainException(where + ": input contract normalisation for " + v.length + " channel(s), not " + channels);
        }
        if (std != null) for (float s : std) if (!(s > 0)) throw new LiveTrainException(where + ": input contract with a standard deviation of " + s);
        return this;
    }

    /** Applies the per-channel normalisation in place (nothing without it); returns its argument. */
    public float[] normalise(float[] chw) {
        if (mean == null && std == null) return chw;
        int plane = height * width;
        for (int c = 0; c < channels; c++) {
            float m = mean == null ? 0f : mean[c], s = std == null ? 1f : std[c];
            for (int i = c * plane; i < (c + 1) * plane; i++) chw[i] = (chw[i] - m) / s;
        }
        return chw;
    }

    public byte[] toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static InputContract fromJson(byte[] json, String where) {
        try {
            return JSON.readValue(json, InputContract.class);
        } catch (IOException e) {
            throw new LiveTrainException(where + ": not a valid input contract (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
    }

    /** A model zip with this contract added as {@value #ZIP_ENTRY} (DL4J ignores entries it does not know). */
    public byte[] addTo(byte[] modelZip) {
        try (ByteArrayOutputStream bytes = new ByteArrayOutputStream(modelZip.length + 4096)) {
            try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(modelZip)); ZipOutputStream out = new ZipOutputStream(bytes)) {
                for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                    if (e.getName().equals(ZIP_ENTRY)) continue;
                    out.putNextEntry(new ZipEntry(e.getName()));
                    in.transferTo(out);
                    out.closeEntry();
                }
                out.putNextEntry(new ZipEntry(ZIP_ENTRY));
                out.write(toJson());
                out.closeEntry();
            }
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("model zip in memory: " + e.getMessage(), e);
        }
    }

    /** The contract inside a model zip, if it has one; {@code where} names the file in errors. */
    public static Optional<InputContract> in(byte[] modelZip, String where) {
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(modelZip))) {
            for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                if (e.getName().equals(ZIP_ENTRY)) return Optional.of(fromJson(in.readNBytes(1 << 20), where + "!" + ZIP_ENTRY));
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new LiveTrainException(where + ": not a readable zip (" + e.getMessage() + ")");
        }
    }

    /** One line for people: {@code 28x28 grey, profile digit, 10 classes}. */
    public String describe() {
        return String.format(Locale.ROOT, "%dx%d %s, profile %s%s, %d classes", height, width, channels == 1 ? "grey" : "colour", profileId,
                mean == null ? "" : ", normalised per channel", classes == null ? 0 : classes.size());
    }
}
