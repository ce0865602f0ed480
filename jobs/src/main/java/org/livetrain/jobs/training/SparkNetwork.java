package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.livetrain.model.Network;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.dataset.DataSet;

/**
 * dl4j-spark's wrapper of either kind of network: {@link SparkDl4jMultiLayer} or {@link SparkComputationGraph}.
 * DL4J's own trainers fit through it, and every trainer evaluates with it ({@link #evaluator}).
 */
public final class SparkNetwork {
    /** Examples per mini-batch when a network is only evaluated. */
    public static final int EVAL_BATCH = 256;

    private final SparkDl4jMultiLayer stack;
    private final SparkComputationGraph graph;

    public SparkNetwork(JavaSparkContext jsc, Network net, TrainingMaster<?, ?> master) {
        this.stack = net.isGraph() ? null : new SparkDl4jMultiLayer(jsc, net.stack(), master);
        this.graph = net.isGraph() ? new SparkComputationGraph(jsc, net.graph(), master) : null;
    }

    public void fit(JavaRDD<DataSet> data) {
        if (stack != null) stack.fit(data);
        else graph.fit(data);
    }

    /** The network as trained so far (the driver's copy). */
    public Network network() {
        return stack != null ? Network.of(stack.getNetwork()) : Network.of(graph.getNetwork());
    }

    /** The mean loss of the last round of fitting. */
    public double score() {
        return stack != null ? stack.getScore() : graph.getScore();
    }

    public Evaluation evaluate(JavaRDD<DataSet> data) {
        return stack != null ? stack.evaluate(data) : graph.evaluate(data);
    }

    /** The mean loss per example on the data, without training. */
    public double loss(JavaRDD<DataSet> data) {
        return stack != null ? stack.calculateScore(data, true) : graph.calculateScore(data, true);
    }

    /** Scores a network on RDDs of mini-batches (evaluation is spread over the executors). */
    public static SparkNetwork evaluator(JavaSparkContext jsc, Network net) {
        return new SparkNetwork(jsc, net, new ParameterAveragingTrainingMaster.Builder(EVAL_BATCH).batchSizePerWorker(EVAL_BATCH).build());
    }
}
