package org.livetrain.model;

import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.deeplearning4j.nn.modelimport.keras.exceptions.InvalidKerasConfigurationException;
import org.deeplearning4j.nn.modelimport.keras.exceptions.UnsupportedKerasConfigurationException;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;

/**
 * Keras models saved as HDF5 ({@code model.save("m.h5")}, Keras 1 or 2), read with DL4J's
 * {@link KerasModelImport}: a Sequential model becomes a MultiLayerNetwork, a functional one a
 * ComputationGraph. The training configuration is used when the file has one and DL4J supports it (its
 * loss becomes a loss layer after the last layer); without it the last layer must already be one.
 *
 * <p>A file is taken for HDF5 by its signature, not its name. HDF5 is parsed by the native libhdf5 in the
 * training driver, which was not written for hostile input: a Keras file is trusted input, to be given only
 * from where the user trusts (the file is capped at {@code Storage.MAX_MODEL} like any model file).
 */
final class KerasModels {
    private KerasModels() {
    }

    /** HDF5's format signature: at the start of the file, or after a user block of 512, 1024, 2048, ... bytes. */
    private static final byte[] SIGNATURE = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

    /** Whether the bytes are an HDF5 file; one named as one ({@code .h5}, {@code .hdf5}) that is not is refused. */
    static boolean isKeras(String source, byte[] bytes) {
        for (long at = 0; at + SIGNATURE.length <= bytes.length; at = at == 0 ? 512 : at * 2) {
            if (Arrays.equals(bytes, (int) at, (int) at + SIGNATURE.length, SIGNATURE, 0, SIGNATURE.length)) return true;
        }
        String lower = source.toLowerCase(Locale.ROOT);
        if (lower.endsWith(".h5") || lower.endsWith(".hdf5")) {
            throw new LiveTrainException("--init-from " + source + ": not an HDF5 file (no HDF5 signature); save the Keras model with model.save(\"m.h5\")");
        }
        return false;
    }

    /** With the file's training configuration if DL4J can use it (its loss becomes an output layer), else without. */
    static Network read(String source, byte[] hdf5) {
        try {
            return read(hdf5, true);
        } catch (UnsupportedKerasConfigurationException | InvalidKerasConfigurationException | IOException | RuntimeException withTraining) {
            try {
                return read(hdf5, false);
            } catch (UnsupportedKerasConfigurationException | InvalidKerasConfigurationException | IOException | RuntimeException e) {
                throw new LiveTrainException("--init-from " + source + ": not a Keras model DL4J can import (" + Storage.firstLine(e) + ")");
            }
        }
    }

    private static Network read(byte[] hdf5, boolean training) throws IOException, UnsupportedKerasConfigurationException, InvalidKerasConfigurationException {
        try {
            return Network.of(KerasModelImport.importKerasSequentialModelAndWeights(new ByteArrayInputStream(hdf5), training));
        } catch (InvalidKerasConfigurationException notSequential) {
            if (!String.valueOf(notSequential.getMessage()).contains("Sequential")) throw notSequential;
            return Network.of(KerasModelImport.importKerasModelAndWeights(new ByteArrayInputStream(hdf5), training));
        }
    }

}
