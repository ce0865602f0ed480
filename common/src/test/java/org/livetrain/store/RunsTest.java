package org.livetrain.store;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.livetrain.store.CheckpointStoreTest.CONF;
import static org.livetrain.store.CheckpointStoreTest.INPUT;
import static org.livetrain.store.CheckpointStoreTest.meta;
import static org.livetrain.store.CheckpointStoreTest.smallNet;

/** Several runs in one checkpoint directory: the best of all is served, the earlier layout, starting over, the lock. */
@Tag("fast")
class RunsTest {
    static final Map<String, Object> SETTINGS = Map.of("trainer", "test", "data", "digits", "model", "mlp");

    @TempDir
    Path dir;

    CheckpointStore store() {
        return CheckpointStore.create(dir.toString(), CONF);
    }

    @Test
    void theDirectorysBestIsTheBestOfAllRunsAndEachRunKeepsItsOwn() {
        RunStore first = store().newRun(null, SETTINGS, null, 3, null);
        first.publish(smallNet(1), INPUT, meta(10, 0.90));
        RunStore second = store().newRun("second", SETTINGS, null, 3, null);
        RunStore.Published worse = second.publish(smallNet(2), INPUT, meta(10, 0.80));
        assertFalse(worse.newBest(), "a worse checkpoint of a later run does not take over serving");
        assertTrue(worse.newRunBest());
        CheckpointStore reader = CheckpointStore.open(dir.toString(), CONF);
        assertEquals(first.id(), reader.best().orElseThrow().run());
        assertEquals(second.id(), reader.latest().orElseThrow().run(), "latest: the checkpoint published last, by any run");
        assertEquals(0.80, second.best().orElseThrow().devAccuracy());

        RunStore.Published better = second.publish(smallNet(3), INPUT, meta(20, 0.95));
        assertTrue(better.newBest());
        assertEquals("runs/second/checkpoints/step-20", reader.best().orElseThrow().path());
        assertEquals(20, reader.load(reader.best().orElseThrow(), false).meta().step());
        assertEquals(List.of(false, true), second.history().stream().map(h -> h.best()).toList());
        assertEquals(List.of(true, true), second.history().stream().map(h -> h.runBest()).toList());

        List<RunStore> runs = reader.runs();
        assertEquals(List.of(first.id(), "second"), runs.stream().map(RunStore::id).toList());
        assertEquals(List.of(1, 2), runs.stream().map(r -> r.info().orElseThrow().number()).toList());
        assertEquals(List.of(false, true), runs.stream().map(r -> r.summary().orElseThrow().serving()).toList());
        assertTrue(first.id().matches("\\d{8}-\\d{6}"), "time-based, sortable id: " + first.id());
    }

    @Test
    void aRunNameIsCheckedAndNeverReused() {
        store().newRun("baseline", SETTINGS, null, 3, null);
        LiveTrainException taken = assertThrows(LiveTrainException.class, () -> store().newRun("baseline", SETTINGS, null, 3, null));
        assertTrue(taken.getMessage().endsWith(": already has a run named baseline"), taken.getMessage());
        assertThrows(IllegalArgumentException.class, () -> store().newRun("../x", SETTINGS, null, 3, null), "callers check names first");
    }

    /** Writes the layout of LiveTrain before runs: checkpoints, history and pointers at the top of the directory. */
    void writeEarlierLayout() throws Exception {
        RunStore run = store().newRun("tmp", SETTINGS, null, 3, null);
        run.publish(smallNet(4), INPUT, meta(50, 0.94));
        run.publish(smallNet(5), INPUT, meta(63, 0.93));
        Path base = dir.resolve("runs/tmp");
        Files.move(base.resolve("checkpoints"), dir.resolve("checkpoints"));
        Files.move(base.resolve("history.jsonl"), dir.resolve("history.jsonl"));
        for (String p : List.of("best.json", "latest.json")) {
            Files.writeString(dir.resolve(p), Files.readString(dir.resolve(p)).replace("runs/tmp/", "").replaceAll(",\\s*\"run\" : \"tmp\"", ""));
        }
        deleteTree(dir.resolve("runs"));
    }

    @Test
    void theEarlierLayoutIsReadInPlaceThenMovedIntoARunWithoutBreakingReaders() throws Exception {
        writeEarlierLayout();
        CheckpointStore reader = CheckpointStore.open(dir.toString(), CONF);
        Pointer old = reader.best().orElseThrow();
        assertEquals("checkpoints/step-50", old.path());
        List<RunStore> before = reader.runs();
        assertEquals(1, before.size());
        RunSummary s = before.get(0).summary().orElseThrow();
        assertEquals(null, s.id());
        assertEquals(RunInfo.EARLIER, s.state());
        assertEquals(63L, s.reached().steps());
        assertEquals(0.94, s.reached().bestDevAccuracy());
        assertEquals(50, reader.load(old, false).meta().step());

        String id = store().migrate().orElseThrow();
        assertTrue(id.startsWith("earlier-"), id);
        assertFalse(Files.exists(dir.resolve("checkpoints")) || Files.exists(dir.resolve("history.jsonl")), "moved, not copied");
        Pointer moved = reader.best().orElseThrow();
        assertEquals("runs/" + id + "/checkpoints/step-50", moved.path());
        assertEquals(old.sha256(), moved.sha256(), "the same model is served");
        assertEquals(50, reader.load(moved, false).meta().step());
        RunStore run = reader.runs().get(0);
        assertEquals(id, run.id());
        assertEquals(63, run.latest().orElseThrow().step());
        assertEquals(2, run.history().size());
        assertEquals("digits", run.info().orElseThrow().data());
        assertEquals(2, store().newRun(null, SETTINGS, null, 3, null).info().orElseThrow().number(), "the next run comes after it");
        assertTrue(store().migrate().isEmpty(), "nothing left to move");
    }

    /** A move interrupted after its copy was renamed into place, before the pointers were switched: the next one finishes it. */
    @Test
    void anInterruptedMoveOfTheEarlierLayoutIsFinishedByTheNext() throws Exception {
        writeEarlierLayout();
        Path copy = dir.resolveSibling(dir.getFileName() + "-copy");
        copyTree(dir, copy);
        String id = CheckpointStore.create(copy.toString(), CONF).migrate().orElseThrow();
        copyTree(copy.resolve("runs"), dir.resolve("runs")); // the copy in place, the pointers and the originals not yet touched
        assertEquals(id, store().migrate().orElseThrow());
        CheckpointStore reader = CheckpointStore.open(dir.toString(), CONF);
        Pointer best = reader.best().orElseThrow();
        assertEquals("runs/" + id + "/checkpoints/step-50", best.path(), "switched once, not nested");
        assertEquals(50, reader.load(best, false).meta().step());
        assertFalse(Files.exists(dir.resolve("checkpoints")) || Files.exists(dir.resolve("runs").resolve(id).resolve("checkpoints/checkpoints")));
        assertEquals(List.of(id), reader.runs().stream().map(RunStore::id).toList());
    }

    static void copyTree(Path from, Path to) throws Exception {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
    }

    @Test
    void startingOverMovesTheRunsAsideOrDeletesThem() throws Exception {
        RunStore run = store().newRun(null, SETTINGS, null, 3, null);
        run.publish(smallNet(6), INPUT, meta(1, 0.5));
        String said = store().startOver(false).orElseThrow();
        assertTrue(said.startsWith("moved 1 earlier run aside to "), said);
        CheckpointStore reader = CheckpointStore.open(dir.toString(), CONF);
        assertTrue(reader.best().isEmpty() && reader.runs().isEmpty());
        Path attic;
        try (Stream<Path> s = Files.list(dir.resolve("attic"))) {
            attic = s.findFirst().orElseThrow();
        }
        assertTrue(Files.isRegularFile(attic.resolve("runs").resolve(run.id()).resolve("checkpoints/step-1/model.zip")), "kept in the attic");
        assertTrue(Files.isRegularFile(attic.resolve("best.json")));

        store().newRun(null, SETTINGS, null, 3, null).publish(smallNet(7), INPUT, meta(1, 0.4));
        assertEquals("deleted 1 earlier run", store().startOver(true).orElseThrow());
        assertFalse(Files.exists(dir.resolve("runs")) || Files.exists(dir.resolve("best.json")));
        assertTrue(store().startOver(false).isEmpty(), "nothing to start over");
    }

    @Test
    void theLockRefusesASecondWriterNamingTheFirstAndIsReleased() throws Exception {
        CheckpointStore store = store();
        List<String> said = new ArrayList<>();
        try (RunLock lock = RunLock.acquire(store, said::add)) {
            lock.forRun("first");
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> RunLock.acquire(store, said::add));
            long pid = ProcessHandle.current().pid();
            assertTrue(e.getMessage().contains("run first (pid " + pid + " on " + InetAddress.getLocalHost().getHostName() + ", started ")
                    && e.getMessage().contains("is training here"), e.getMessage());
            assertEquals("first", RunLock.holder(store).orElseThrow().run());
        }
        assertFalse(Files.exists(dir.resolve("lock.json")), "released");
        RunLock.acquire(store, said::add).close();
        assertEquals(List.of(), said, "no takeover was needed");
    }

    @Test
    void aStaleLockIsTakenOverAndSaidSo() throws Exception {
        CheckpointStore store = store();
        ObjectMapper json = new ObjectMapper();
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        String now = Instant.now().toString();
        String host = InetAddress.getLocalHost().getHostName();
        String namespace = RunLock.current(null).pidNamespace();
        Files.write(dir.resolve("lock.json"), json.writeValueAsBytes(new RunLock.Holder("dead", host, gone.pid(), now, now, now, namespace)));
        RunInfo running = RunInfo.created("dead", 1, SETTINGS, null).running(now, host, gone.pid());
        assertEquals(RunInfo.INTERRUPTED, store.state(running), "a run whose process is gone is shown as interrupted");
        List<String> said = new ArrayList<>();
        RunLock.acquire(store, said::add).close();
        assertEquals(List.of("took over the lock of run dead (pid " + gone.pid() + " on " + host + ", started " + now + "): pid "
                + gone.pid() + " on " + host + " is gone"), said);

        // another host: its process cannot be checked, the age of its last heartbeat can (by the storage's clock)
        Instant old = Instant.now().minus(RunLock.STALE).minusSeconds(5);
        Files.write(dir.resolve("lock.json"), json.writeValueAsBytes(new RunLock.Holder("far", "elsewhere", 1, old.toString(), old.toString(), old.toString(), namespace)));
        Files.setLastModifiedTime(dir.resolve("lock.json"), FileTime.from(old));
        said.clear();
        RunLock.acquire(store, said::add).close();
        assertTrue(said.get(0).matches("took over the lock of run far \\(pid 1 on elsewhere, .*: its last heartbeat was 12[5-9] s ago"), said.toString());

        // a heartbeat written just now, whatever the writer's clock said (an hour behind here)
        String behind = Instant.now().minusSeconds(3600).toString();
        Files.write(dir.resolve("lock.json"), json.writeValueAsBytes(new RunLock.Holder("far", "elsewhere", 1, behind, behind, behind, namespace)));
        assertThrows(LiveTrainException.class, () -> RunLock.acquire(store, said::add), "a live lock on another host is respected");
        assertEquals(RunInfo.RUNNING, store.state(RunInfo.created("far", 2, SETTINGS, null).running(now, "elsewhere", 1L)));
    }

    /**
     * Issue 25, point 5: a container with the host's network shares the host name but not the pids. A live run
     * there holds the lock: same host name, a pid this process cannot see, a fresh heartbeat, another pid
     * namespace. It is not taken over; once its heartbeat is old, it is.
     */
    @Test
    void aLockOfAnotherPidNamespaceOnThisHostIsJudgedByItsHeartbeatOnly() throws Exception {
        CheckpointStore store = store();
        ObjectMapper json = new ObjectMapper();
        Process invisible = new ProcessBuilder("true").start(); // a pid that no process here has
        invisible.waitFor();
        String host = InetAddress.getLocalHost().getHostName(), now = Instant.now().toString();
        RunLock.Holder container = new RunLock.Holder("boxed", host, invisible.pid(), now, now, now, "pid:[4026532999]");
        Files.write(dir.resolve("lock.json"), json.writeValueAsBytes(container));
        List<String> said = new ArrayList<>();
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> RunLock.acquire(store, said::add));
        assertTrue(e.getMessage().contains("run boxed (pid " + invisible.pid() + " on " + host), e.getMessage());
        assertEquals(List.of(), said);
        assertEquals(RunInfo.RUNNING, store.state(RunInfo.created("boxed", 1, SETTINGS, null).running(now, host, invisible.pid())));

        Files.setLastModifiedTime(dir.resolve("lock.json"), FileTime.from(Instant.now().minus(RunLock.STALE).minusSeconds(5)));
        RunLock.acquire(store, said::add).close();
        assertTrue(said.get(0).contains("its last heartbeat was"), said.toString());
    }

    static void deleteTree(Path p) throws Exception {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
