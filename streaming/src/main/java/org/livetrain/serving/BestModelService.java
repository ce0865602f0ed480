package org.livetrain.serving;

import org.livetrain.metrics.Readings;
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
 * <p>
 * With {@link Promotion shadow promotion} a newer best is loaded as a {@link Candidate} instead, and the
 * {@link Scorer} answers with the serving model and scores the candidate beside it: here ({@link #shadowing})
 * this service's own {@link Promoter} decides, as the prompt needs; on a Kafka scorer's executor
 * ({@link #following}) nothing is polled and the driver's {@link Promoter.Plan} names both models, per micro-batch.
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
    /** Shadow promotion decided here (null: a new best serves at once, or the driver decides). */
    private final Promoter promoter;
    private final AtomicReference<Candidate> candidate = new AtomicReference<>();
    private final CopyOnWriteArrayList<Consumer<Promoter.Decision>> decisions = new CopyOnWriteArrayList<>();

    /** A model scored beside the serving one: its pointer, and the model, or why it could not be loaded here. */
    public record Candidate(Pointer pointer, LoadedModel model, String failure) {
    }

    public BestModelService(CheckpointStore store, Duration pollInterval) {
        this(store, pollInterval, null, null);
    }

    /** Serves the best checkpoint, and shadows each newer best before it serves ({@link Promotion#shadow()}) or not. */
    public static BestModelService shadowing(CheckpointStore store, Duration pollInterval, Promotion policy) {
        return shadowing(store, pollInterval, policy, null);
    }

    /** @param restored what a scorer that ran before decided (its serving model, its refusal), or null */
    public static BestModelService shadowing(CheckpointStore store, Duration pollInterval, Promotion policy, Promoter.State restored) {
        return new BestModelService(store, pollInterval, policy.shadow() ? new Promoter(policy) : null, restored);
    }

    /** A Kafka scorer executor's: it loads what the driver's plans name ({@link #follow}), and polls nothing. */
    public static BestModelService following(CheckpointStore store) {
        return new BestModelService(store);
    }

    private BestModelService(CheckpointStore store) {
        this.store = store;
        this.promoter = null;
        this.poller = null;
    }

    private BestModelService(CheckpointStore store, Duration pollInterval, Promoter promoter, Promoter.State restored) {
        this.store = store;
        this.promoter = promoter;
        if (promoter != null && restored != null) restore(restored);
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

    /**
     * Serves the model a scorer before this one promoted last, so that a restart does not serve a best that was
     * refused; one that cannot be loaded any more (retention deleted it) leaves best.json's to serve.
     */
    private void restore(Promoter.State s) {
        boolean loaded = false;
        if (s.serving() != null) {
            try {
                current.set(new LoadedModel(store.load(s.serving(), false)));
                loaded = true;
                LOG.info("serving {} again, as promoted before the restart", s.serving().describe());
            } catch (RuntimeException e) {
                LOG.warn("the model served before the restart ({}) cannot be loaded ({}); serving best.json's", s.serving().describe(), e.getMessage());
            }
        }
        promoter.restore(s, loaded);
    }

    /** The candidate the serving model is shadowed by, if any. */
    public Optional<Candidate> candidate() {
        return Optional.ofNullable(candidate.get());
    }

    /** Receives every promotion decision taken here. */
    public void onDecision(Consumer<Promoter.Decision> listener) {
        decisions.add(listener);
    }

    /** What a Kafka scorer's executors answer with and shadow in the next micro-batch (with promotion decided here). */
    public Promoter.Plan plan() {
        synchronized (pollLock) {
            return promoter.plan();
        }
    }

    /** What a restarted scorer should take up again (with promotion decided here). */
    public Promoter.State promotionState() {
        synchronized (pollLock) {
            return promoter.state();
        }
    }

    /** The candidate and its window, or how promotion works here, for a status line; empty when a new best serves at once. */
    public Optional<String> promotionStatus() {
        return Optional.ofNullable(promoter).map(Promoter::status);
    }

    /**
     * How the candidate answered requests the serving model answered: with promotion decided here, it joins the
     * candidate's window, and the window's verdict is applied when it is complete.
     */
    public void shadowed(ShadowTally t) {
        if (promoter == null) return;
        synchronized (pollLock) {
            promoter.record(t);
            judge();
        }
    }

    /** Applies the promoter's decision on the candidate, if its window is complete (the lock is held). */
    private void judge() {
        promoter.decide().ifPresent(d -> {
            Candidate c = candidate.getAndSet(null);
            if (d.promoted() && c != null && c.model() != null) current.set(c.model());
            (d.promoted() ? Readings.Driver.SERVING_PROMOTIONS : Readings.Driver.SERVING_REFUSED_CANDIDATES).add(1);
            LOG.info("{}", d.line());
            emit(d.line());
            for (Consumer<Promoter.Decision> l : decisions) {
                try {
                    l.accept(d);
                } catch (RuntimeException e) { // the poller thread must live on
                    LOG.warn("a promotion listener failed: {}", e.toString());
                }
            }
        });
    }

    /**
     * A Kafka scorer executor follows the driver: it answers with the plan's serving model and shadows the plan's
     * candidate, loading each once (by its checksum). A serving model that cannot be loaded leaves the one loaded
     * before answering (said in the log); a candidate that cannot be loaded answers every request with the
     * reason, which the driver's verdict reads.
     */
    public void follow(Promoter.Plan plan) {
        synchronized (pollLock) {
            if (plan.serving() != null) {
                try {
                    current.set(model(plan.serving()));
                } catch (RuntimeException e) {
                    LoadedModel now = current.get();
                    refuse(e.getMessage() + (now == null ? "" : "; still serving " + now.describe()));
                }
            }
            Pointer c = plan.candidate();
            if (c == null) {
                candidate.set(null);
            } else if (candidate.get() == null || !candidate.get().pointer().sha256().equals(c.sha256())) {
                try {
                    candidate.set(new Candidate(c, model(c), null));
                } catch (RuntimeException e) {
                    candidate.set(new Candidate(c, null, "the candidate could not be loaded: " + e.getMessage()));
                }
            }
        }
    }

    /** The model at {@code p}: the serving or candidate one when it is that, else loaded and verified. */
    private LoadedModel model(Pointer p) {
        LoadedModel now = current.get();
        if (now != null && now.sha256().equals(p.sha256())) return now;
        Candidate c = candidate.get();
        if (c != null && c.model() != null && c.model().sha256().equals(p.sha256())) return c.model();
        LoadedModel loaded = new LoadedModel(store.load(p, false));
        Readings.Worker.MODEL_LOADS.add(1);
        return loaded;
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
        if (poller == null) return; // an executor that follows its driver
        synchronized (pollLock) {
            check();
            if (promoter != null) judge(); // a window may close by its time
        }
    }

    private void check() {
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
        if (promoter != null && now != null && (promoter.refused(p.sha256())
                || candidate.get() != null && candidate.get().pointer().sha256().equals(p.sha256()))) {
            lastSeen = p;
            return;
        }
        try {
            LoadedModel fresh = new LoadedModel(store.load(p, false));
            Readings.Worker.MODEL_LOADS.add(1);
            if (promoter != null && now != null) {
                shadow(p, fresh, now);
                return;
            }
            if (promoter != null) promoter.serving(p);
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

    /** A newer best loaded while another serves: the candidate from now on, replacing a pending one. */
    private void shadow(Pointer p, LoadedModel fresh, LoadedModel serving) {
        lastSeen = p;
        lastRefusal = null;
        failing = null;
        if (!promoter.seen(p)) return;
        Candidate replaced = candidate.getAndSet(new Candidate(p, fresh, null));
        Promotion policy = promoter.policy();
        emit(String.format(Locale.ROOT, "candidate model: %s, dev accuracy %.1f%%%s; %s keeps answering while the candidate is shadowed for %d requests or %d s",
                fresh.describe(), 100 * fresh.devAccuracy(), replaced == null ? "" : " (replaces candidate " + replaced.pointer().describe() + ")",
                serving.describe(), policy.windowRequests(), policy.windowTime().toSeconds()));
    }

    private void retryLater(Pointer p) {
        retryDelayMillis = p.equals(failing) ? Math.min(MAX_RETRY.toMillis(), retryDelayMillis * 2) : 1000;
        failing = p;
        retryAt = System.nanoTime() + retryDelayMillis * 1_000_000L;
    }

    private void refuse(String message) {
        if (Objects.equals(message, lastRefusal)) return;
        lastRefusal = message;
        Readings.Worker.REFUSED_CHECKPOINTS.add(1);
        LOG.warn("refused checkpoint: {}", message);
        emit("refused checkpoint: " + message);
    }

    private void emit(String line) {
        for (Consumer<String> l : listeners) l.accept(line);
    }

    @Override
    public void close() {
        if (poller != null) poller.shutdownNow();
    }
}
