package org.livetrain.serving;

import org.livetrain.store.CheckpointStore;
import org.livetrain.store.CorruptCheckpointException;
import org.livetrain.store.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * the old model or the new one, never a half-loaded one. A checkpoint whose bytes are wrong (checksum,
 * contract, format) is refused for good (logged once) and the current model keeps serving; one that could
 * not be read this time (missing for a moment, storage that did not answer) is tried again, after 1 s,
 * 2 s, 4 s, ... at most {@link #MAX_RETRY} apart, so that every server converges on what best.json names.
 */
public final class BestModelService implements AutoCloseable {
    public static final Duration DEFAULT_POLL = Duration.ofSeconds(1);
    static final Duration MAX_RETRY = Duration.ofSeconds(60);
    private static final Logger LOG = LoggerFactory.getLogger(BestModelService.class);

    private final CheckpointStore store;
    private final AtomicReference<LoadedModel> current = new AtomicReference<>();
    private final ScheduledExecutorService poller;
    private final CopyOnWriteArrayList<Consumer<String>> listeners = new CopyOnWriteArrayList<>();
    private volatile Pointer lastSeen;
    private volatile String lastRefusal;
    /** The pointer that could not be read, and when to try it again. */
    private Pointer failing;
    private long retryAt, retryDelayMillis;
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
            if (p.equals(failing) && System.nanoTime() < retryAt) return;
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
                failing = null;
                emit(String.format(Locale.ROOT, "%s model: %s, dev accuracy %.1f%%",
                        now == null ? "loaded" : "new best", fresh.describe(), 100 * fresh.devAccuracy()));
            } catch (CorruptCheckpointException e) {
                lastSeen = p; // its bytes are wrong: reading them again gives the same answer
                refuse(e.getMessage() + (now == null ? "" : "; still serving " + now.describe()));
            } catch (RuntimeException e) { // missing for a moment, storage that did not answer: tried again later
                retryLater(p);
                refuse(e.getMessage() + (now == null ? "" : "; still serving " + now.describe()) + "; trying again");
            }
        }
    }

    private void retryLater(Pointer p) {
        retryDelayMillis = p.equals(failing) ? Math.min(MAX_RETRY.toMillis(), retryDelayMillis * 2) : 1000;
        failing = p;
        retryAt = System.nanoTime() + retryDelayMillis * 1_000_000L;
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
