package org.nd4j.nativeblas;

/**
 * Compatibility bridge for a DL4J 1.0.0-M2 (and M2.1) bug, not LiveTrain logic.
 *
 * <p>DL4J decides whether its oneDNN layer helpers may run by looking up the class
 * {@code org.nd4j.nativeblas.Nd4jCpu$Environment} by name ({@code BaseMKLDNNHelper.mklDnnEnabled}). ND4J
 * moved that class to {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu} before M2, so the lookup
 * always fails and convolution falls back to DL4J's slow im2col path even with the oneDNN build of ND4J
 * on the class path. This class answers the lookup from the real environment. See
 * {@link org.livetrain.model.NativeKernels}.
 */
public final class Nd4jCpu {
    private Nd4jCpu() {
    }

    public static final class Environment {
        private static final Environment INSTANCE = new Environment();

        private Environment() {
        }

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** True when the loaded ND4J native library was built with oneDNN and uses it. */
        public boolean isUseMKLDNN() {
            return org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu.Environment.getInstance().isUseONEDNN();
        }
    }
}
