package org.livetrain.serving;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.livetrain.data.Batches;
import org.livetrain.store.Checkpoint;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/** A verified checkpoint ready to answer: its network, class names, step and dev accuracy. */
public final class LoadedModel {
    public static final int TOP = 3;
    private final MultiLayerNetwork network;
    private final List<String> classes;
    private final long step;
    private final double devAccuracy;
    private final String sha256;

    public LoadedModel(Checkpoint cp) {
        this.network = cp.network();
        int n = (int) network.getLayer(network.getnLayers() - 1).getParam("b").length();
        List<String> names = cp.meta().classes();
        this.classes = names != null && names.size() == n ? List.copyOf(names) : IntStream.range(0, n).mapToObj(Integer::toString).toList();
        this.step = cp.meta().step();
        this.devAccuracy = cp.meta().devAccuracy();
        this.sha256 = cp.pointer().sha256();
    }

    public long step() {
        return step;
    }

    public double devAccuracy() {
        return devAccuracy;
    }

    public String sha256() {
        return sha256;
    }

    public List<String> classes() {
        return classes;
    }

    /** Class probabilities for one preprocessed image. DL4J networks are not thread-safe: one caller at a time. */
    public synchronized float[] probabilities(float[] pixels) {
        INDArray out = network.output(Batches.input(pixels), false);
        return out.toFloatVector();
    }

    /** The answer for one preprocessed image. */
    public ScoreRecord score(String requestId, String path, float[] pixels) {
        float[] p = probabilities(pixels);
        List<Integer> order = new ArrayList<>(IntStream.range(0, p.length).boxed().toList());
        order.sort(Comparator.comparingDouble((Integer i) -> p[i]).reversed());
        List<ScoreRecord.Candidate> top = order.subList(0, Math.min(TOP, p.length)).stream()
                .map(i -> new ScoreRecord.Candidate(classes.get(i), p[i])).toList();
        int best = order.get(0);
        return new ScoreRecord(requestId, path, classes.get(best), (double) p[best], top, step, devAccuracy, null);
    }
}
