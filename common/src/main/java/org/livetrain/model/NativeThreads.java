package org.livetrain.model;

import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * How many OpenMP threads ND4J's native kernels (oneDNN's convolutions, OpenBLAS) use on the calling thread.
 * OpenMP keeps that number per thread: a thread starts with {@code OMP_NUM_THREADS} (else one per core), but
 * the thread that loads ND4J is left with 4, whatever the variable says (measured with ND4J 1.0.0-M2 on 2
 * cores, {@code OMP_NUM_THREADS=1}: 4 on the loading thread, 1 on every other). That thread is the prompt's,
 * which then scored each image with a team of 4 on 2 cores: 3 more threads spinning between forward passes,
 * about a third of a single image's CPU (profile and figures in docs/PERFORMANCE.md, Serving cost).
 * {@link #asConfigured} puts the calling thread back to what the environment asks, once per thread.
 */
public final class NativeThreads {
    private static final ThreadLocal<Boolean> SET = ThreadLocal.withInitial(() -> false);

    private NativeThreads() {
    }

    /** This thread's native kernels use {@code OMP_NUM_THREADS} threads (one per core when unset); a no-op after the first call. */
    public static void asConfigured() {
        if (SET.get()) return;
        SET.set(true);
        NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(configured());
    }

    /** What the environment asks for: {@code OMP_NUM_THREADS}, else one thread per core. */
    static int configured() {
        String n = System.getenv("OMP_NUM_THREADS");
        try {
            if (n != null && !n.isBlank()) return Math.max(1, Integer.parseInt(n.strip()));
        } catch (NumberFormatException e) {
            // OpenMP itself ignores a value it cannot read
        }
        return Runtime.getRuntime().availableProcessors();
    }
}
