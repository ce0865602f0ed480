package org.livetrain.serving;

import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;

import java.nio.file.Path;
import java.util.function.Supplier;

/** One request: an image path in, a {@link ScoreRecord} out, from the best model so far. Never throws for bad input. */
public final class Scorer {
    private final BestModelService models;
    private final ImagePreprocessor preprocessor;
    private final Supplier<String> notReady;

    /** @param notReady says why no model is there yet and when one is expected */
    public Scorer(BestModelService models, ImagePreprocessor preprocessor, Supplier<String> notReady) {
        this.models = models;
        this.preprocessor = preprocessor;
        this.notReady = notReady;
    }

    public BestModelService models() {
        return models;
    }

    public ScoreRecord score(String requestId, Path file) {
        String shown = file.toString();
        LoadedModel model = models.current().orElse(null);
        if (model == null) {
            models.poll();
            model = models.current().orElse(null);
        }
        if (model == null) return ScoreRecord.error(requestId, shown, "no model is ready yet: " + notReady.get());
        try {
            return model.score(requestId, shown, preprocessor.file(file));
        } catch (LiveTrainException e) {
            return ScoreRecord.error(requestId, shown, e.getMessage());
        } catch (RuntimeException e) {
            return ScoreRecord.error(requestId, shown, shown + ": could not be scored (" + e + ")");
        }
    }
}
