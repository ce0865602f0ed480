package org.livetrain.cli;

import java.util.ArrayList;
import java.util.List;

import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.ImageFiles;
import org.livetrain.serving.ImageLimits;
import picocli.CommandLine.Option;

/** {@code --max-pixels}, {@code --max-bytes} and {@code --allowed-roots}, the same for every serving path. */
public final class ImageLimitOptions {
    @Option(names = "--max-pixels", paramLabel = "N", defaultValue = "" + ImagePreprocessor.DEFAULT_MAX_PIXELS,
            description = "Images with more pixels than this are refused before decoding.")
    long maxPixels;

    @Option(names = "--max-bytes", paramLabel = "N", defaultValue = "" + ImageFiles.DEFAULT_MAX_BYTES,
            description = "Image files larger than this are refused before they are read.")
    long maxBytes;

    @Option(names = "--allowed-roots", paramLabel = "DIR|URI", split = ",",
            description = "Only files under these directories (symlinks resolved first, links inside refused) or URIs (hdfs://nn/images, s3a://bucket/images: same scheme and authority, no . or ..) are read."
                    + " Default: stream, the directory it was started in; the prompt, anything you can read.")
    List<String> allowedRoots = new ArrayList<>();

    ImageLimits limits() {
        return new ImageLimits(maxPixels, maxBytes);
    }
}
