package org.livetrain.model;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOps;
import org.nd4j.nativeblas.NativeOpsHolder;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A thread left with ND4J's team of 4 (as the thread that loads ND4J is) is put back to what the environment asks. */
@Tag("fast")
class NativeThreadsTest {
    @Test
    void aThreadLeftWithATeamOfFourGetsWhatTheEnvironmentAsks() throws Exception {
        Nd4j.create(1); // ND4J loaded
        NativeOps ops = NativeOpsHolder.getInstance().getDeviceNativeOps();
        AtomicInteger before = new AtomicInteger(), after = new AtomicInteger(), again = new AtomicInteger();
        Thread t = new Thread(() -> {
            ops.setOmpNumThreads(4); // what loading ND4J leaves on its thread
            before.set(ops.ompGetMaxThreads());
            NativeThreads.asConfigured();
            after.set(ops.ompGetMaxThreads());
            ops.setOmpNumThreads(4);
            NativeThreads.asConfigured(); // once per thread: a later change is the caller's own
            again.set(ops.ompGetMaxThreads());
        });
        t.start();
        t.join();
        assertEquals(4, before.get());
        assertEquals(NativeThreads.configured(), after.get());
        assertEquals(4, again.get());
    }
}
