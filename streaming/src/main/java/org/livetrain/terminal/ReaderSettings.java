package org.livetrain.terminal;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.Promotion;

/**
 * How a prompt behaves: how often it looks for a better model, the largest image it reads, where files may be
 * read from ({@code allowedRoots}: directories or URIs; empty: anything the user can read), JSON records
 * instead of human answers, a folder to save each prepared input in (or null), and whether a person types at
 * a terminal (lines from elsewhere are then drawn above the prompt, and pictures use colour), and how a new best
 * starts answering.
 */
public record ReaderSettings(Duration poll, ImageLimits limits, List<String> allowedRoots, boolean json, Path saveInputs, boolean interactive,
                             Promotion promotion) {
    /** A new best answers at once. */
    public ReaderSettings(Duration poll, ImageLimits limits, List<String> allowedRoots, boolean json, Path saveInputs, boolean interactive) {
        this(poll, limits, allowedRoots, json, saveInputs, interactive, Promotion.IMMEDIATE);
    }
}
