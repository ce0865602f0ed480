package org.livetrain.terminal;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.io.ImageFiles;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.LoadedModel;
import org.livetrain.serving.Scorer;
import org.livetrain.store.CheckpointStore;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.function.Supplier;

/** A terminal reader wired to the best model of a checkpoint directory. */
public final class TerminalSession implements AutoCloseable {
    private final BestModelService models;
    private final TerminalReader reader;

    public TerminalSession(String checkpointDir, Configuration conf, ReaderSettings settings, Supplier<String> notReady,
                           InputStream in, PrintStream out, PrintStream err) {
        CheckpointStore store = CheckpointStore.open(checkpointDir, conf);
        this.models = new BestModelService(store, settings.poll());
        Scorer scorer = new Scorer(models, ImageFiles.anywhere(settings.maxBytes()), settings.maxPixels(), notReady);
        this.reader = new TerminalReader(scorer, new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)), out, err, settings);
        models.onEvent(reader::printAbove);
        LoadedModel m = models.current().orElse(null);
        reader.printAbove(m == null
                ? "No model yet in " + store.root() + ": " + notReady.get()
                : String.format(Locale.ROOT, "Serving the best model of %s: %s, dev accuracy %.1f%%", store.root(), m.describe(), 100 * m.devAccuracy()));
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
        models.close();
    }
}
