package org.livetrain.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.livetrain.LiveTrainException;
import org.livetrain.image.Shape;
import org.livetrain.io.Storage;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.util.Locale;

/**
 * What network a run trains: one of the built-in {@link Models.Kind kinds} ({@code --model}), or any DL4J
 * configuration given as the JSON its {@code toJson()} writes ({@code --model-config}), a
 * MultiLayerConfiguration or a ComputationGraphConfiguration. A configuration brings its own layers,
 * updater and seed; a built-in kind takes the run's learning rate and seed. Travels to the executors.
 */
public record ModelSpec(Models.Kind kind, String configJson, String source, byte[] initial) implements Serializable {
    public static ModelSpec builtIn(String kind) {
        return new ModelSpec(Models.Kind.parse(kind), null, null, null);
    }

    /** @param source where the JSON came from, named in messages and in the run's settings */
    public static ModelSpec config(String source, String json) {
        return new ModelSpec(null, json, source, null);
    }

    /**
     * Fine-tuning a saved model ({@code --init-from}): its layers and weights, with the run's Adam learning
     * rate; an output layer of another size than the data's classes is replaced by a new one; the first
     * {@code freeze} layers keep their weights (DL4J's transfer learning: frozen layers run in inference mode).
     * For a graph, "the first N layers" is the N-th layer in topological order and every layer it depends on.
     *
     * @param zip a model zip: a checkpoint's model.zip, or any DL4J ModelSerializer zip; or a Keras HDF5 file
     *            ({@code .h5}, {@code .hdf5}: {@link KerasModels})
     */
    public static ModelSpec initFrom(String source, byte[] zip, int numClasses, double learningRate, long seed, int freeze) {
        if (source.toLowerCase(Locale.ROOT).endsWith(".keras")) {
            throw new LiveTrainException("--init-from " + source + ": the Keras 3 format is not read by DL4J; save the model as HDF5 (model.save(\"m.h5\"))");
        }
        Network saved;
        if (KerasModels.isKeras(source, zip)) {
            saved = KerasModels.read(source, zip);
        } else {
            try {
                saved = Network.read(zip, false, ModelZip.Origin.ELSEWHERE);
            } catch (IOException | RuntimeException e) {
                throw new LiveTrainException("--init-from " + source + ": not a DL4J model zip (" + Storage.firstLine(e) + ")");
            }
        }
        Network tuned = Transfer.fineTune(saved, numClasses, learningRate, seed, freeze, "--init-from " + source);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            tuned.write(out, false);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return new ModelSpec(null, null, source, out.toByteArray());
    }

    /** {@code lenet}, or {@code config:FILE} for a configuration (its file name). */
    public String name() {
        if (kind != null) return kind.name().toLowerCase(Locale.ROOT);
        return initial != null ? initName(source) : configName(source);
    }

    /** How a run fine-tuned from a saved model names its model: {@code init:} and the file's name. */
    public static String initName(String source) {
        return "init:" + source.substring(source.lastIndexOf('/') + 1);
    }

    /** How a run trained from a configuration file names its model: {@code config:} and the file's name. */
    public static String configName(String source) {
        return "config:" + source.substring(source.lastIndexOf('/') + 1);
    }

    /** A new network, initialised (the same on every worker: from the seed). */
    public Network create(Shape shape, int numClasses, double learningRate, long seed) {
        if (kind != null) return Models.create(kind, shape, numClasses, learningRate, seed);
        if (initial == null) return newNetwork();
        try {
            return Network.read(initial, false);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private Network newNetwork() {
        if (!configJson.contains("\"confs\"") && !configJson.contains("\"vertices\"")) {
            throw new LiveTrainException("--model-config " + source + ": not a DL4J configuration: its JSON has neither \"confs\""
                    + " (a MultiLayerConfiguration) nor \"vertices\" (a ComputationGraphConfiguration); ./submit.sh model NAME prints one");
        }
        try {
            if (ModelZip.isGraphJson(configJson)) {
                ComputationGraph g = new ComputationGraph(ComputationGraphConfiguration.fromJson(configJson));
                g.init();
                return Network.of(g);
            }
            MultiLayerNetwork n = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(configJson));
            n.init();
            return Network.of(n);
        } catch (RuntimeException e) {
            throw new LiveTrainException("--model-config " + source + ": not a DL4J MultiLayerConfiguration or ComputationGraphConfiguration"
                    + " in JSON (" + Storage.firstLine(e) + ")");
        }
    }

    /**
     * Refuses a network that does not fit the data: it must take flat images ({@code [n, h*w*c]}, as
     * {@code InputType.convolutionalFlat(h, w, c)} declares), give one output per class, and train (an
     * output layer with a loss). Checked on one example, before any Spark work.
     */
    public void check(Network net, Shape shape, int numClasses) {
        String what = kind != null ? "--model " + name() : (initial != null ? "--init-from " : "--model-config ") + source;
        INDArray x = Nd4j.zeros(1, shape.pixels());
        long outputs;
        try {
            outputs = net.output(x).size(1);
        } catch (RuntimeException e) {
            throw new LiveTrainException(what + ": the network does not take the data's " + shape + " images as rows of " + shape.pixels()
                    + " values (" + Storage.firstLine(e) + "); declare its input as InputType.convolutionalFlat(" + shape.height() + ", " + shape.width()
                    + ", " + shape.channels() + ")");
        }
        if (outputs != numClasses) {
            throw new LiveTrainException(what + ": the network has " + outputs + " outputs, the data has " + numClasses + " classes");
        }
        try {
            INDArray y = Nd4j.zeros(1, numClasses);
            y.putScalar(0, 0, 1);
            net.copy().computeGradient(x, y);
        } catch (RuntimeException e) {
            throw new LiveTrainException(what + ": the network cannot be trained on labelled images (" + Storage.firstLine(e)
                    + "); its last layer must be an output layer with a loss function");
        }
    }
}
