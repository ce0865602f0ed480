package org.livetrain.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The one training process that writes into a checkpoint directory, named in {@code DIR/lock.json}:
 * <pre>
 * {"run": "20261128-035711", "host": "node-3", "pid": 4242, "process_started": "2026-11-28T03:57:01Z",
 *  "started": "2026-11-28T03:57:09Z", "heartbeat": "2026-11-28T03:58:19Z", "pid_namespace": "pid:[4026531836]"}
 * </pre>
 * The driver creates it exclusively (one step on local disks and HDFS; on object stores two writers starting
 * within the same moment may both get it), replaces it with a fresh heartbeat every {@link #HEARTBEAT}, and
 * deletes it when the run ends. A second run refuses to start while the lock is live. A lock is stale, and
 * is taken over with a line saying so, when its process is gone: on this host and in this process's pid
 * namespace (containers with the host's network share its host name, not its pids), no process has its pid
 * and start time; anywhere, the file was last written more than {@link #STALE} ago, both times read from the
 * storage's own clock (a file's modification time), so that hosts whose clocks disagree agree on the age.
 * A stale lock is moved aside under a name of its own before it is replaced, so that of two runs taking it
 * over at once only one succeeds. A run that finds its lock taken over (its process was paused for longer
 * than {@link #STALE}) stops: {@link #onLost}.
 */
public final class RunLock implements AutoCloseable {
    static final Duration HEARTBEAT = Duration.ofSeconds(10);
    static final Duration STALE = Duration.ofMinutes(2);
    /** A lock file without readable content (its writer died between creating and writing it) is stale after this. */
    static final Duration UNREADABLE_STALE = Duration.ofSeconds(10);
    private static final Logger LOG = LoggerFactory.getLogger(RunLock.class);

    /** The content of {@code lock.json}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Holder(@JsonProperty("run") String run, @JsonProperty("host") String host, @JsonProperty("pid") long pid,
                         @JsonProperty("process_started") String processStarted, @JsonProperty("started") String started,
                         @JsonProperty("heartbeat") String heartbeat, @JsonProperty("pid_namespace") String pidNamespace) {

        /**
         * Why this holder's process is gone, or empty when it may still be alive; {@code written} is when the lock
         * file was last written and {@code now} the present, both by the storage's clock.
         */
        public Optional<String> staleness(Instant written, Instant now) {
            if (host != null && host.equals(thisHost()) && pidNamespace != null && pidNamespace.equals(PID_NAMESPACE)) {
                Optional<ProcessHandle> p = ProcessHandle.of(pid);
                Optional<Instant> began = p.flatMap(h -> h.info().startInstant());
                boolean same = p.isPresent() && p.get().isAlive()
                        && (processStarted == null || began.isEmpty() || began.get().toString().equals(processStarted));
                if (!same) return Optional.of("pid " + pid + " on " + host + " is gone");
            }
            long age = Duration.between(written, now).toSeconds();
            if (age > STALE.toSeconds()) return Optional.of("its last heartbeat was " + age + " s ago");
            return Optional.empty();
        }

        public String describe() {
            return (run == null ? "a run" : "run " + run) + " (pid " + pid + " on " + host + ", started " + started + ")";
        }
    }

    private final CheckpointStore store;
    private final Holder mine;
    private volatile String run;
    private volatile boolean held = true;
    private volatile Runnable onLost = () -> { };
    private volatile Holder takenBy;
    private final ScheduledExecutorService heartbeat;

    private RunLock(CheckpointStore store, Holder mine) {
        this.store = store;
        this.mine = mine;
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "livetrain-lock-heartbeat");
            t.setDaemon(true);
            return t;
        });
        heartbeat.scheduleWithFixedDelay(this::beat, HEARTBEAT.toMillis(), HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Takes the directory's lock for this process, taking over a stale one (and telling {@code say}), or
     * refuses with an error that names the live holder.
     */
    public static RunLock acquire(CheckpointStore store, Consumer<String> say) {
        Holder me = current(null);
        Path file = store.lockFile();
        try {
            for (int tries = 0; tries < 3; tries++) {
                if (Storage.createExclusively(store.fs(), file, CheckpointStore.JSON.writeValueAsBytes(me))) return new RunLock(store, me);
                byte[] seen = read(store, file);
                if (seen == null) continue; // released meanwhile
                String stale = staleness(store, parse(seen), file);
                if (stale == null) {
                    Holder h = parse(seen);
                    throw new LiveTrainException(store.location() + ": " + (h == null ? "another run" : h.describe())
                            + " is training here; wait for it to end or use another checkpoint directory (the lock is " + file
                            + "; a lock whose process is gone is taken over by the next run)");
                }
                if (!moveAside(store, file, seen)) continue; // another run moved it first, or it was refreshed meanwhile
                Holder h = parse(seen);
                say.accept("took over the lock of " + (h == null ? "an unknown run" : h.describe()) + ": " + stale);
            }
        } catch (IOException e) {
            throw Storage.problem(store.location() + ": cannot take the lock " + file, e);
        }
        throw new LiveTrainException(store.location() + ": another run took the lock " + file + " at the same moment; try again");
    }

    /**
     * Moves a stale lock aside under a name of its own and deletes it; false when the file moved was not the
     * one judged stale (a run that took it over first, or a heartbeat meanwhile), which is then put back.
     */
    private static boolean moveAside(CheckpointStore store, Path file, byte[] stale) throws IOException {
        Path aside = new Path(file.getParent(), file.getName() + ".stale-" + UUID.randomUUID());
        if (!store.fs().rename(file, aside)) return false;
        byte[] moved = read(store, aside);
        if (moved != null && !Arrays.equals(moved, stale)) {
            store.fs().rename(aside, file); // fails only if yet another run created a lock meanwhile: that one stands
            return false;
        }
        store.fs().delete(aside, false);
        return true;
    }

    /** Who holds the lock now, if anyone. */
    public static Optional<Holder> holder(CheckpointStore store) {
        try {
            byte[] b = read(store, store.lockFile());
            return b == null ? Optional.empty() : Optional.ofNullable(parse(b));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Whether the lock names a live run {@code runId}: held by it, and not stale. */
    static boolean live(CheckpointStore store, String runId) {
        Optional<Holder> h = holder(store);
        try {
            return h.isPresent() && runId.equals(h.get().run()) && staleness(store, h.get(), store.lockFile()) == null;
        } catch (IOException e) {
            return false;
        }
    }

    /** What to do when another run took this lock over: the training job stops its Spark jobs. */
    public void onLost(Runnable action) {
        this.onLost = action;
    }

    /** The error a run that lost its lock ends with. */
    public LiveTrainException lost() {
        return new LiveTrainException(store.location() + ": " + (takenBy == null ? "another run" : takenBy.describe())
                + " took over this run's lock (this process did not refresh it for more than " + STALE.toMinutes()
                + " minutes); this run stops so that two runs never write here at once");
    }

    /** Names the run this lock is held for (written at once and with every heartbeat). */
    public void forRun(String runId) {
        this.run = runId;
        beat();
    }

    /** Whether this process still holds the lock (false once another took it over). */
    public boolean held() {
        return held;
    }

    private synchronized void beat() {
        if (!held) return;
        Path file = store.lockFile();
        try {
            Holder now = holderNow();
            if (!isMine(now)) {
                held = false;
                takenBy = now;
                LOG.warn("{}: this run no longer holds the lock ({}); it stops", file, now == null ? "the file is gone" : "now " + now.describe());
                onLost.run();
                return;
            }
            Holder next = new Holder(run, mine.host(), mine.pid(), mine.processStarted(), mine.started(), Instant.now().toString(), mine.pidNamespace());
            Storage.writeAtomically(store.fs(), file, CheckpointStore.JSON.writeValueAsBytes(next), store.conf());
        } catch (IOException | RuntimeException e) {
            LOG.warn("{}: heartbeat not written ({})", file, Storage.firstLine(e));
        }
    }

    /** Releases the lock if this process still holds it. */
    @Override
    public synchronized void close() {
        heartbeat.shutdownNow();
        if (!held) return;
        held = false;
        Path file = store.lockFile();
        try {
            if (isMine(holderNow())) store.fs().delete(file, false);
        } catch (IOException e) {
            LOG.warn("{}: lock not released ({}); the next run takes it over once it is stale", file, Storage.firstLine(e));
        }
    }

    private Holder holderNow() throws IOException {
        byte[] b = read(store, store.lockFile());
        return b == null ? null : parse(b);
    }

    private boolean isMine(Holder h) {
        return h != null && h.pid() == mine.pid() && mine.host().equals(h.host()) && mine.started().equals(h.started());
    }

    static Holder current(String run) {
        ProcessHandle self = ProcessHandle.current();
        String now = Instant.now().toString();
        return new Holder(run, thisHost(), self.pid(), self.info().startInstant().map(Instant::toString).orElse(null), now, now, PID_NAMESPACE);
    }

    /** Whose pids this process sees: Linux's pid namespace; elsewhere there is one per host; null when unknown. */
    private static final String PID_NAMESPACE = pidNamespace();

    private static String pidNamespace() {
        try {
            return Files.readSymbolicLink(Paths.get("/proc/self/ns/pid")).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return Files.exists(Paths.get("/proc")) ? null : "host";
        }
    }

    /** The reason a lock with this content ({@code h}, null when unreadable) is stale, or null if it may be live. */
    private static String staleness(CheckpointStore store, Holder h, Path file) throws IOException {
        Instant written = Instant.ofEpochMilli(store.fs().getFileStatus(file).getModificationTime()), now = store.now();
        if (h != null) return h.staleness(written, now).orElse(null);
        long age = Duration.between(written, now).toSeconds();
        return age > UNREADABLE_STALE.toSeconds() ? "the lock file is unreadable and " + age + " s old" : null;
    }

    private static byte[] read(CheckpointStore store, Path file) throws IOException {
        try {
            return Storage.readAll(store.fs(), file, Storage.MAX_JSON);
        } catch (FileNotFoundException e) {
            return null;
        }
    }

    private static Holder parse(byte[] content) {
        try {
            Holder h = CheckpointStore.JSON.readValue(content, Holder.class);
            return h.host() == null || h.started() == null ? null : h;
        } catch (IOException e) {
            return null;
        }
    }

    private static String thisHost() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            String env = System.getenv("HOSTNAME");
            return env == null || env.isBlank() ? "unknown-host" : env;
        }
    }
}
