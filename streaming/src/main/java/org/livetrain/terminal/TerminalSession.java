package org.livetrain.terminal;

import org.livetrain.io.ImageFiles;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.LoadedModel;
import org.livetrain.serving.Promoter;
import org.livetrain.serving.Scorer;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointStore;

import java.io.IOException;
import java.util.Locale;
import java.util.function.Supplier;

/** A terminal reader wired to the best model of a checkpoint directory; closing it closes the prompt and the model service. */
public final class TerminalSession implements AutoCloseable {
    private final BestModelService models;
    private final TerminalReader reader;
    private final PromptIO io;

    public TerminalSession(CheckpointLocation location, ReaderSettings settings, Supplier<String> notReady, PromptIO io) {
        this.io = io;
        try {
            CheckpointStore store = location.open();
            this.models = BestModelService.shadowing(store, settings.poll(), settings.promotion());
            this.reader = open(store, settings, notReady, files(settings, location));
        } catch (RuntimeException e) {
            io.close();
            throw e;
        }
    }

    /** What the prompt may read: anything the user can, or only under --allowed-roots; remote URIs through the checkpoints' Hadoop configuration. */
    private static ImageFiles files(ReaderSettings settings, CheckpointLocation location) {
        long max = settings.limits().maxBytes();
        return settings.allowedRoots().isEmpty() ? ImageFiles.anywhere(max, location.conf()) : ImageFiles.within(settings.allowedRoots(), max, location.conf());
    }

    private TerminalReader open(CheckpointStore store, ReaderSettings settings, Supplier<String> notReady, ImageFiles files) {
        Scorer scorer = new Scorer(models, files, settings.limits().maxPixels(), notReady);
        TerminalReader reader = new TerminalReader(scorer, io, settings);
        models.onEvent(reader::printAbove);
        models.onDecision(d -> record(store, d, reader));
        LoadedModel m = models.current().orElse(null);
        reader.printAbove(m == null
                ? "No model yet in " + store.root() + ": " + notReady.get()
                : String.format(Locale.ROOT, "Serving the best model of %s: %s, dev accuracy %.1f%%", store.root(), m.describe(), 100 * m.devAccuracy()));
        if (models.candidate().isPresent()) models.promotionStatus().ifPresent(reader::printAbove); // found at the first poll, before the listener
        return reader;
    }

    private boolean unrecorded;

    /** A promotion decision goes into serving-stats.jsonl for the report; a directory this prompt may not write to only loses the record (said once). */
    private void record(CheckpointStore store, Promoter.Decision d, TerminalReader reader) {
        if (unrecorded) return;
        try {
            store.appendServingStats(d.record());
        } catch (RuntimeException e) {
            unrecorded = true;
            reader.printAbove("promotion decisions not recorded in " + store.location() + " (" + e.getMessage() + ")");
        }
    }

    public TerminalReader reader() {
        return reader;
    }

    public BestModelService models() {
        return models;
    }

    public int run() throws IOException {
        return reader.run();
    }

    @Override
    public void close() {
        try {
            io.close();
        } finally {
            models.close();
        }
    }
}
