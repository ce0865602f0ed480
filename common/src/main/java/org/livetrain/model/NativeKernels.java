package org.livetrain.model;

/**
 * Lets DL4J's layers use ND4J's native oneDNN kernels (convolution, pooling) instead of its built-in
 * im2col + gemm path. DL4J 1.0.0-M2 only creates these "helpers" when the system property
 * {@value #PROPERTY} is {@code false} (its default is {@code true}), and only finds out that oneDNN is
 * there through {@link org.nd4j.nativeblas.Nd4jCpu}. Measured on 2 cores, LeNet, batch 64, one thread:
 * forward 82 ms without, 10 ms with the helpers (see docs/PERFORMANCE.md).
 *
 * <p>Switched on once as each process starts, before any network is created or restored: by the command
 * line's {@code main}, and in every Spark driver and executor by {@code NativeKernelsPlugin}; in a session
 * without that plugin (a user's spark-shell), by the training job, each BytePS worker task and the batch
 * scorer before they build or restore a network. The tests and
 * benchmarks set the property on their JVM's command line. A user who sets the property keeps their choice
 * ({@code -Dorg.eclipse.deeplearning4j.helpers.disable=true} brings DL4J's built-in path back).
 */
public final class NativeKernels {
    public static final String PROPERTY = "org.eclipse.deeplearning4j.helpers.disable";

    private NativeKernels() {
    }

    public static void enable() {
        if (System.getProperty(PROPERTY) == null) System.setProperty(PROPERTY, "false");
    }

    /** True when networks created in this JVM from now on use the native kernels. */
    public static boolean enabled() {
        return "false".equals(System.getProperty(PROPERTY));
    }
}
