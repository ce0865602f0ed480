package org.livetrain.serving;

import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.ImageFiles;

import java.io.Serializable;

/**
 * How large a requested image may be: its pixels (checked from its header, before decoding) and its file's
 * bytes (checked from the open file's size, before reading). Every serving path takes the same limits.
 */
public record ImageLimits(long maxPixels, long maxBytes) implements Serializable {
    public static final ImageLimits DEFAULT = new ImageLimits(ImagePreprocessor.DEFAULT_MAX_PIXELS, ImageFiles.DEFAULT_MAX_BYTES);

    public ImageLimits {
        if (maxPixels < 1) throw new LiveTrainException("--max-pixels " + maxPixels + ": must be at least 1");
        if (maxBytes < 1 || maxBytes > Integer.MAX_VALUE - 8) {
            throw new LiveTrainException("--max-bytes " + maxBytes + ": must be between 1 and " + (Integer.MAX_VALUE - 8));
        }
    }
}
