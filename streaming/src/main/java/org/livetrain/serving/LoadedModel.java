package org.livetrain.serving;

import org.livetrain.LiveTrainException;
import org.livetrain.data.Batches;
import org.livetrain.image.InputContract;
import org.livetrain.model.NativeThreads;
import org.livetrain.model.Network;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.Pointer;
import org.livetrain.store.StoredModel;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.stream.IntStream;

/**
 * A verified checkpoint ready to answer: its network, the contract its input is prepared by, class names,
 * step and dev accuracy.
 */
public final class LoadedModel {
    public static final int TOP = 3;
    private final Network network;
    /** Copies of the network not in use: DL4J networks are not thread-safe, and concurrent callers (the
     * tasks of one executor) each take a copy instead of waiting for one another. */
    private final ConcurrentLinkedDeque<Network> idle = new ConcurrentLinkedDeque<>();
    private final List<String> classes;
    private final InputContract input;
    private final long step;
    private final String run;
    private final double devAccuracy;
    private final String sha256;
    private final String created;

    public LoadedModel(Checkpoint cp) {
        this(cp.network(), cp.input(), cp.pointer(), cp.pointer().run() != null ? cp.pointer().run() : cp.meta().run());
    }

    /** A model that travelled as verified bytes (a scoring job's, a Spark ML model's). */
    public LoadedModel(StoredModel m) {
        this(m.network(false), m.input(), m.pointer(), m.pointer().run());
    }

    private LoadedModel(Network network, InputContract input, Pointer pointer, String run) {
        this.network = network;
        idle.push(network);
        this.input = input;
        int n = outputs(pointer.path());
        List<String> names = input.classes();
        this.classes = names != null && names.size() == n ? List.copyOf(names) : IntStream.range(0, n).mapToObj(Integer::toString).toList();
        this.step = pointer.step();
        this.run = run;
        this.devAccuracy = pointer.devAccuracy();
        this.sha256 = pointer.sha256();
        this.created = pointer.created();
    }

    /** The network takes the contract's input and gives one output per class, or the checkpoint is refused; its number of outputs. */
    private int outputs(String where) {
        long outputs;
        try {
            outputs = network.output(Nd4j.zeros(1, input.shape().pixels())).size(1);
        } catch (RuntimeException e) {
            throw new LiveTrainException(where + ": the network does not take the " + input.shape() + " input its contract names (" + e.getMessage() + ")");
        }
        if (input.classes() != null && input.classes().size() != outputs) {
            throw new LiveTrainException(where + ": the input contract names " + input.classes().size() + " classes, the network has " + outputs + " outputs");
        }
        return (int) outputs;
    }

    /** How a file is prepared for this model. */
    public InputContract input() {
        return input;
    }

    public long step() {
        return step;
    }

    /** The run that trained it; null for a checkpoint written before runs existed. */
    public String run() {
        return run;
    }

    /** {@code step 150 of run 20261128-035711}, or {@code step 150} when its run is not known. */
    public String describe() {
        return "step " + step + (run == null ? "" : " of run " + run);
    }

    public double devAccuracy() {
        return devAccuracy;
    }

    public String sha256() {
        return sha256;
    }

    /** When its checkpoint was written (ISO-8601), as its pointer says; null when not said. */
    public String created() {
        return created;
    }

    public List<String> classes() {
        return classes;
    }

    /**
     * Class probabilities for preprocessed images of the same size, in one forward pass: a batch costs far
     * less per image than single images (LeNet on one core: 2 ms for one image, 0.11 ms per image in a
     * batch of 64).
     */
    public List<float[]> probabilities(List<float[]> images) {
        NativeThreads.asConfigured(); // the prompt's thread loaded ND4J, which leaves it a team of 4
        Network net = idle.poll();
        if (net == null) net = network.copy();
        try {
            INDArray out = net.output(Batches.input(images));
            List<float[]> rows = new ArrayList<>(images.size());
            for (int i = 0; i < images.size(); i++) rows.add(out.getRow(i).toFloatVector());
            return rows;
        } finally {
            idle.push(net);
        }
    }

    /** The answer for one image from its class probabilities, with the {@value #TOP} most likely classes. */
    public ScoreRecord answer(String requestId, String path, float[] p) {
        return answer(requestId, path, p, TOP);
    }

    /** The answer for one image from its class probabilities, with the {@code k} most likely classes. */
    public ScoreRecord answer(String requestId, String path, float[] p, int k) {
        List<Integer> order = new ArrayList<>(IntStream.range(0, p.length).boxed().toList());
        order.sort(Comparator.comparingDouble((Integer i) -> p[i]).reversed());
        List<ScoreRecord.Candidate> top = order.subList(0, Math.min(k, p.length)).stream()
                .map(i -> new ScoreRecord.Candidate(classes.get(i), p[i])).toList();
        int best = order.get(0);
        return new ScoreRecord(requestId, path, new ScoreRecord.Prediction(classes.get(best), (double) p[best], top),
                new ScoreRecord.Answerer(step, run, sha256, devAccuracy), null);
    }
}
