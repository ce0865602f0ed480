package org.livetrain.serving;

import org.livetrain.LiveTrainException;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * Serves the checkpoint that {@code best.json} names. A background thread polls the pointer; a newer
 * best is loaded and verified off to the side and then swapped in atomically, so a request sees either
 * the old model or the new one, never a half-loaded one. A checkpoint that fails verification is
 * refused (logged once) and the current model keeps serving.
 */
public final class BestModelService implements AutoCloseable {
    public static final Duration DEFAULT_POLL = Duration.ofSeconds(1);
    private static final Logger LOG = LoggerFactory.getLogger(BestModelService.class);

    private final CheckpointStore store;
    private final AtomicReference<LoadedModel> current = new AtomicReference<>();
    private final ScheduledExecutorService poller;
    private final CopyOnWriteArrayList<Consumer<String>> listeners = new CopyOnWriteArrayList<>();
    private volatile Pointer lastSeen;
    private volatile String lastRefusal;
    private final Object pollLock = new Object();

    public BestModelService(CheckpointStore store, Duration pollInterval) {
        this.store = store;
        this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "livetrain-best-model-poller");
            t.setDaemon(true);
            return t;
        });
        poll();
        long ms = Math.max(10, pollInterval.toMillis());
        poller.scheduleWithFixedDelay(this::poll, ms, ms, TimeUnit.MILLISECONDS);
    }

    /** Receives one line for every model change and every refusal (e.g. to print it above a prompt). */
    public void onEvent(Consumer<String> listener) {
        listeners.add(listener);
    }

    public Optional<LoadedModel> current() {
        return Optional.ofNullable(current.get());
    }

    public CheckpointStore store() {
        return store;
    }

    /** Waits up to {@code timeout} for a model to be available. */
    public Optional<LoadedModel> await(Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (current.get() == null && System.nanoTime() < end) Thread.sleep(20);
        return current();
    }

    /** Checks the pointer once, now (also called by the background thread). */
    public void poll() {
        synchronized (pollLock) {
            Pointer p;
            try {
                p = store.best().orElse(null);
            } catch (RuntimeException e) { // a garbage pointer, or storage that did not answer this time
                LoadedModel now = current.get();
                refuse(e.getMessage() + (now == null ? "" : "; still serving " + now.describe()));
                return;
            }
            if (p == null || p.equals(lastSeen)) return;
            LoadedModel now = current.get();
            if (now != null && now.sha256().equals(p.sha256())) {
                lastSeen = p;
                return;
            }
            try {
                LoadedModel fresh = new LoadedModel(store.load(p, false));
                current.set(fresh);
                lastSeen = p;
                lastRefusal = null;
                emit(String.format(Locale.ROOT, "%s model: %s, dev accuracy %.1f%%",
                        now == null ? "loaded" : "new best", fresh.describe(), 100 * fresh.devAccuracy()));
            } catch (LiveTrainException e) {
                lastSeen = p; // do not retry the same broken pointer every second
                refuse(e.getMessage() + (now == null ? "" : "; still serving " + now.describe()));
            } catch (UncheckedIOException e) {
                // storage that did not answer this time: the same pointer is tried again at the next poll
                refuse(e.getMessage() + (now == null ? "" : "; still serving " + now.describe()));
            } catch (RuntimeException e) {
                lastSeen = p;
                refuse("checkpoint " + p.path() + " could not be loaded (" + e + ")" + (now == null ? "" : "; still serving " + now.describe()));
            }
        }
    }

    private void refuse(String message) {
        if (Objects.equals(message, lastRefusal)) return;
        lastRefusal = message;
        LOG.warn("refused checkpoint: {}", message);
        emit("refused checkpoint: " + message);
    }

    private void emit(String line) {
        for (Consumer<String> l : listeners) l.accept(line);
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }
}
