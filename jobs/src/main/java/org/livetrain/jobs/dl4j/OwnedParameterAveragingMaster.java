package org.livetrain.jobs.dl4j;

import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingResult;
import org.deeplearning4j.spark.impl.paramavg.aggregator.ParameterAveragingAggregationTuple;
import org.deeplearning4j.spark.impl.paramavg.aggregator.ParameterAveragingElementAddFunction;
import org.deeplearning4j.spark.impl.paramavg.aggregator.ParameterAveragingElementCombineFunction;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * dl4j-spark's parameter averaging, with one fix. dl4j-spark 1.0.0-M2 broadcasts the driver network's own
 * parameter array. Spark 3 closes {@link AutoCloseable} values when it cleans a broadcast up (after a GC),
 * INDArray is AutoCloseable, and in local mode the broadcast value is the driver's very object: the
 * driver network's parameters were released under it ("You can't use DataBuffer once it was released"
 * when saving or at the next broadcast). Here every averaging round installs a fresh network that owns
 * new buffers, which no broadcast ever held; evaluation gets a clone ({@link Dl4jTrainer}).
 * The averaging itself is dl4j-spark's: same aggregation functions, same iteration accounting.
 */
final class OwnedParameterAveragingMaster extends ParameterAveragingTrainingMaster {
    OwnedParameterAveragingMaster(Builder builder) {
        super(builder);
    }

    @Override
    protected void processResults(SparkDl4jMultiLayer network, SparkComputationGraph graph,
                                  JavaRDD<ParameterAveragingTrainingResult> results, int splitNum, int totalSplits) {
        ParameterAveragingAggregationTuple tuple = results.treeAggregate(null, new ParameterAveragingElementAddFunction(),
                new ParameterAveragingElementCombineFunction(), aggregationDepth);
        INDArray sum = tuple == null ? null : tuple.getParametersSum();
        if (sum == null) return; // an empty split: nothing trained
        int count = tuple.getAggregationsCount();
        INDArray stateSum = tuple.getUpdaterStateSum();
        INDArray state = stateSum == null ? null : stateSum.div(count);
        // div allocates new arrays that the fresh network owns
        if (network != null) {
            MultiLayerNetwork old = network.getNetwork();
            MultiLayerNetwork fresh = new MultiLayerNetwork(old.getLayerWiseConfigurations());
            fresh.init(sum.div(count), false);
            if (state != null) fresh.getUpdater().setStateViewArray(fresh, state, false);
            old.getLayerWiseConfigurations().setIterationCount(old.getLayerWiseConfigurations().getIterationCount() + averagingFrequency);
            network.setNetwork(fresh);
            network.setScore(tuple.getScoreSum() / count);
        } else {
            ComputationGraph old = graph.getNetwork();
            ComputationGraph fresh = new ComputationGraph(old.getConfiguration());
            fresh.init(sum.div(count), false);
            if (state != null) fresh.getUpdater().setStateViewArray(state);
            old.getConfiguration().setIterationCount(old.getConfiguration().getIterationCount() + averagingFrequency);
            graph.setNetwork(fresh);
            graph.setScore(tuple.getScoreSum() / count);
        }
    }
}
