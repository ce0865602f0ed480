package org.livetrain.model;

/**
 * Lets DL4J's layers use ND4J's native oneDNN kernels (convolution, pooling) instead of its built-in
 * im2col + gemm path. DL4J 1.0.0-M2 only creates these "helpers" when the system property
 * {@value #PROPERTY} is {@code false} (its default is {@code true}), and only finds out that oneDNN is
 * there through {@link org.nd4j.nativeblas.Nd4jCpu}. Measured on 2 cores, LeNet, batch 64, one thread:
 * forward 82 ms without, 10 ms with the helpers (see docs/PERFORMANCE.md).
 *
 * <p>Called before any network is created or restored: by {@link Models} and by the checkpoint store,
 * which covers the driver, the executors and the scorer. A user who sets the property keeps their choice
 * ({@code -Dorg.eclipse.deeplearning4j.helpers.disable=true} brings DL4J's built-in path back).
 */
public final class NativeKernels {
    public static final String PROPERTY = "org.eclipse.deeplearning4j.helpers.disable";

    private NativeKernels() {
    }

    public static void enable() {
        if (System.getProperty(PROPERTY) == null) System.setProperty(PROPERTY, "false");
    }
}
