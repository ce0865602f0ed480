package org.livetrain.cli;

import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.ImageFiles;
import org.livetrain.serving.ImageLimits;
import picocli.CommandLine.Option;

/** {@code --max-pixels} and {@code --max-bytes}, the same for every serving path. */
public final class ImageLimitOptions {
    @Option(names = "--max-pixels", paramLabel = "N", defaultValue = "" + ImagePreprocessor.DEFAULT_MAX_PIXELS,
            description = "Images with more pixels than this are refused before decoding.")
    long maxPixels;

    @Option(names = "--max-bytes", paramLabel = "N", defaultValue = "" + ImageFiles.DEFAULT_MAX_BYTES,
            description = "Image files larger than this are refused before they are read.")
    long maxBytes;

    ImageLimits limits() {
        return new ImageLimits(maxPixels, maxBytes);
    }
}
