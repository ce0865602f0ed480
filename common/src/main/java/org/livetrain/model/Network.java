package org.livetrain.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A DL4J network of either kind, a {@link MultiLayerNetwork} (a stack of layers) or a {@link ComputationGraph}
 * (residual networks, anything with more than one path), with the few verbs training, checkpoints and
 * serving use. One input (flat images, {@code [n, h*w*c]}) and one output (class probabilities).
 *
 * <p>Both kinds keep all parameters in one flat array and all gradients in one flat array of the same
 * layout; {@link #params()} and {@link #gradients()} are views of those, so what is written into them is
 * what the network uses.
 */
public final class Network {
    private final MultiLayerNetwork stack;
    private final ComputationGraph graph;

    private Network(MultiLayerNetwork stack, ComputationGraph graph) {
        this.stack = stack;
        this.graph = graph;
    }

    public static Network of(MultiLayerNetwork stack) {
        return new Network(stack, null);
    }

    public static Network of(ComputationGraph graph) {
        return new Network(null, graph);
    }

    /** The DL4J model itself (for ModelSerializer, dl4j-spark and other DL4J APIs). */
    public Model model() {
        return stack != null ? stack : graph;
    }

    public boolean isGraph() {
        return graph != null;
    }

    /** The network as a stack of layers; fails for a graph. */
    public MultiLayerNetwork stack() {
        if (stack == null) throw new IllegalStateException("a ComputationGraph, not a MultiLayerNetwork");
        return stack;
    }

    /** The network as a graph; fails for a stack. */
    public ComputationGraph graph() {
        if (graph == null) throw new IllegalStateException("a MultiLayerNetwork, not a ComputationGraph");
        return graph;
    }

    /** All parameters, one flat view. */
    public INDArray params() {
        return model().params();
    }

    public long numParams() {
        return model().numParams();
    }

    /** All gradients, one flat view in the layout of {@link #params()}. */
    public INDArray gradients() {
        return stack != null ? stack.getFlattenedGradients() : graph.getFlattenedGradients();
    }

    public Layer[] layers() {
        return stack != null ? stack.getLayers() : graph.getLayers();
    }

    /** The gradient of a mini-batch (a sum over its examples) into {@link #gradients()}; parameters untouched. */
    public void computeGradient(INDArray features, INDArray labels) {
        if (stack != null) {
            stack.setInput(features);
            stack.setLabels(labels);
            stack.computeGradientAndScore();
        } else {
            graph.setInputs(features);
            graph.setLabels(labels);
            graph.computeGradientAndScore();
        }
    }

    /** The loss of the last mini-batch whose gradient was computed. */
    public double score() {
        return model().score();
    }

    /** The loss on a data set, without training. */
    public double score(DataSet ds) {
        return stack != null ? stack.score(ds, false) : graph.score(ds, false);
    }

    /**
     * Runs the network's own updater on {@link #gradients()}, which then holds the step to subtract from the
     * parameters: {@code batchSize} is the number of examples the gradient was summed over.
     */
    public void applyUpdater(int batchSize) {
        int iteration = iteration();
        if (stack != null) {
            stack.getUpdater().update(stack, stack.gradient(), iteration, epoch(), batchSize, LayerWorkspaceMgr.noWorkspaces());
        } else {
            graph.getUpdater().update(graph.gradient(), iteration, epoch(), batchSize, LayerWorkspaceMgr.noWorkspaces());
        }
    }

    /** The updater's state (Adam's moments), one flat view; null for an updater without state. */
    public INDArray updaterState() {
        return stack != null ? stack.getUpdater().getStateViewArray() : graph.getUpdater().getStateViewArray();
    }

    public int iteration() {
        return stack != null ? stack.getIterationCount() : graph.getIterationCount();
    }

    public void iteration(int n) {
        if (stack != null) stack.setIterationCount(n);
        else graph.getConfiguration().setIterationCount(n);
    }

    public int epoch() {
        return stack != null ? stack.getEpochCount() : graph.getEpochCount();
    }

    /** Class probabilities for a batch of flat images, in inference mode. */
    public INDArray output(INDArray features) {
        return stack != null ? stack.output(features, false) : graph.outputSingle(false, features);
    }

    public Network copy() {
        return stack != null ? of(stack.clone()) : of(graph.clone());
    }

    /** The configuration as DL4J writes it ({@code toJson()}). */
    public String configJson() {
        return stack != null ? stack.getLayerWiseConfigurations().toJson() : graph.getConfiguration().toJson();
    }

    /**
     * Where in the flat gradient DL4J keeps updates that are not gradients: a layer's parameters that its
     * updater does not divide by the mini-batch (batch normalisation's running mean and variance, whose
     * "gradient" is the change of the running estimate from one mini-batch). Summed over data-parallel
     * workers they would move W times too far; these ranges are averaged instead. {@code [from, to)} pairs.
     */
    public List<long[]> runningStatistics() {
        long base = params().offset();
        List<long[]> ranges = new ArrayList<>();
        for (Layer layer : layers()) {
            for (Map.Entry<String, INDArray> p : layer.paramTable(false).entrySet()) {
                if (layer.updaterDivideByMinibatch(p.getKey())) continue;
                long from = p.getValue().offset() - base;
                if (from < 0 || from + p.getValue().length() > numParams()) {
                    throw new IllegalStateException(layer.conf().getLayer().getLayerName() + "/" + p.getKey() + " is not a view of the flat parameters");
                }
                ranges.add(new long[]{from, from + p.getValue().length()});
            }
        }
        return ranges;
    }

    /** The model zip DL4J's ModelSerializer writes (configuration, coefficients and, if asked, the updater state). */
    public void write(OutputStream out, boolean withUpdater) throws IOException {
        ModelSerializer.writeModel(model(), out, withUpdater);
    }

    /** A checkpoint's model zip, of either kind, as {@link #write} wrote it. */
    public static Network read(byte[] zip, boolean withUpdater) throws IOException {
        return read(zip, withUpdater, ModelZip.Origin.CHECKPOINT);
    }

    /**
     * A model zip of either kind, as {@link #write} or DL4J's ModelSerializer wrote it: its entries checked first
     * ({@link ModelZip}), then read by DL4J with Java deserialization refused ({@link NoDeserialization}).
     */
    public static Network read(byte[] zip, boolean withUpdater, ModelZip.Origin origin) throws IOException {
        ModelZip checked = ModelZip.check(zip, origin);
        ByteArrayInputStream clean = new ByteArrayInputStream(checked.forDl4j());
        return NoDeserialization.during(() -> checked.isGraph() ? of(ModelSerializer.restoreComputationGraph(clean, withUpdater))
                : of(ModelSerializer.restoreMultiLayerNetwork(clean, withUpdater)));
    }
}
