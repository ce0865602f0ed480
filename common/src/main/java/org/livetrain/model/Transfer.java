package org.livetrain.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.nn.weights.WeightInit;
import org.livetrain.LiveTrainException;
import org.nd4j.linalg.learning.config.Adam;

import java.util.ArrayList;
import java.util.List;

/** DL4J's transfer learning for either kind of network: new output size, frozen first layers, the run's updater. */
final class Transfer {
    private Transfer() {
    }

    static Network fineTune(Network saved, int numClasses, double learningRate, long seed, int freeze, String what) {
        FineTuneConfiguration ft = new FineTuneConfiguration.Builder().updater(new Adam(learningRate)).seed(seed).build();
        int layers = saved.layers().length;
        if (freeze < 0 || freeze >= layers) {
            throw new LiveTrainException("--freeze " + freeze + ": " + what + " has " + layers + " layers; freeze 0 to " + (layers - 1)
                    + " of them (the output layer always trains)");
        }
        return saved.isGraph() ? graph(saved.graph(), numClasses, ft, freeze) : stack(saved.stack(), numClasses, ft, freeze);
    }

    private static Network stack(MultiLayerNetwork net, int numClasses, FineTuneConfiguration ft, int freeze) {
        TransferLearning.Builder b = new TransferLearning.Builder(net).fineTuneConfiguration(ft);
        int out = net.getnLayers() - 1;
        while (out > 0 && net.getLayer(out).numParams() == 0) out--; // a loss layer (Keras imports end with one) has no weights
        if (net.getLayer(out).getParam("b").length() != numClasses) b.nOutReplace(out, numClasses, WeightInit.XAVIER);
        if (freeze > 0) b.setFeatureExtractor(freeze - 1);
        return Network.of(b.build());
    }

    private static Network graph(ComputationGraph g, int numClasses, FineTuneConfiguration ft, int freeze) {
        TransferLearning.GraphBuilder b = new TransferLearning.GraphBuilder(g).fineTuneConfiguration(ft);
        if (g.getConfiguration().getNetworkOutputs().size() != 1) {
            throw new LiveTrainException("a graph with " + g.getConfiguration().getNetworkOutputs().size() + " outputs; LiveTrain trains networks with one");
        }
        String out = g.getConfiguration().getNetworkOutputs().get(0);
        if (g.getOutputLayer(0).getParam("b").length() != numClasses) b.nOutReplace(out, numClasses, WeightInit.XAVIER);
        if (freeze > 0) b.setFeatureExtractor(layersInOrder(g).get(freeze - 1));
        return Network.of(b.build());
    }

    /** The names of a graph's layers in topological order (inputs first). */
    private static List<String> layersInOrder(ComputationGraph g) {
        GraphVertex[] vertices = g.getVertices();
        List<String> names = new ArrayList<>();
        for (int i : g.topologicalSortOrder()) {
            Layer layer = vertices[i].hasLayer() ? vertices[i].getLayer() : null;
            if (layer != null) names.add(vertices[i].getVertexName());
        }
        return names;
    }
}
