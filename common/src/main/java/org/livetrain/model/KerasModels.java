package org.livetrain.model;

import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.deeplearning4j.nn.modelimport.keras.exceptions.InvalidKerasConfigurationException;
import org.deeplearning4j.nn.modelimport.keras.exceptions.UnsupportedKerasConfigurationException;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Locale;

/**
 * Keras models saved as HDF5 ({@code model.save("m.h5")}, Keras 1 or 2), read with DL4J's
 * {@link KerasModelImport}: a Sequential model becomes a MultiLayerNetwork, a functional one a
 * ComputationGraph. The training configuration is used when the file has one and DL4J supports it (its
 * loss becomes a loss layer after the last layer); without it the last layer must already be one.
 */
final class KerasModels {
    private KerasModels() {
    }

    static boolean isKeras(String source) {
        String lower = source.toLowerCase(Locale.ROOT);
        return lower.endsWith(".h5") || lower.endsWith(".hdf5");
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
