package org.livetrain.jobs.byteps;

import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.image.Shape;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.livetrain.ps.Compression;
import org.livetrain.ps.Credentials;
import org.livetrain.ps.LocalGroup;
import org.livetrain.ps.PushPull;
import org.livetrain.ps.SummationClient;
import org.livetrain.ps.SummationServer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Sgd;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The BytePS path computes the same training as one machine: 2 workers x batch b through real summation
 * servers end where DL4J's own fit() on batches of 2b ends, for a MultiLayerNetwork and for a
 * ComputationGraph with batch normalisation. Float32 sums taken in another order are not
 * bit-identical, so the comparison allows 1e-5 (parameters are of order 0.1).
 */
@Tag("fast")
class DataParallelMathTest {
    static final int STEPS = 20, B = 32, WORKERS = 2;
    static final double TOLERANCE = 1e-5;

    @Test
    void twoWorkersMatchOneMachineWithTheDoubleBatch() throws Exception {
        List<LabeledImage> examples = digits(STEPS * B * WORKERS);
        Network reference = Models.create(Models.Kind.LENET, SHAPE, 10, 1e-3, 7);
        List<List<DataSet>> local = new ArrayList<>();
        for (int w = 0; w < WORKERS; w++) local.add(new ArrayList<>());
        for (int s = 0; s < STEPS; s++) {
            reference.stack().fit(Batches.toDataSet(examples.subList(s * 2 * B, (s + 1) * 2 * B), 10));
            for (int w = 0; w < WORKERS; w++) {
                int from = s * 2 * B + w * B;
                local.get(w).add(Batches.toDataSet(examples.subList(from, from + B), 10));
            }
        }
        Supplier<Network> lenet = () -> Models.create(Models.Kind.LENET, SHAPE, 10, 1e-3, 7);
        List<Network> replicas = trainOnWorkers(lenet, local);
        assertSameTraining(reference, replicas, lenet, "lenet");
    }

    /**
     * Local reduction (BytePS's intra-host step): 4 workers in 2 local groups of 2, each group summing in
     * memory and pushing once, end where one machine's fit() on batches of 4b ends.
     */
    @Test
    void fourWorkersInTwoLocalGroupsMatchOneMachineWithTheQuadrupleBatch() throws Exception {
        int workers = 4, steps = 10;
        List<LabeledImage> examples = digits(steps * B * workers);
        Network reference = Models.create(Models.Kind.LENET, SHAPE, 10, 1e-3, 7);
        List<List<DataSet>> local = new ArrayList<>();
        for (int w = 0; w < workers; w++) local.add(new ArrayList<>());
        for (int s = 0; s < steps; s++) {
            reference.stack().fit(Batches.toDataSet(examples.subList(s * workers * B, (s + 1) * workers * B), 10));
            for (int w = 0; w < workers; w++) {
                int from = s * workers * B + w * B;
                local.get(w).add(Batches.toDataSet(examples.subList(from, from + B), 10));
            }
        }
        Supplier<Network> lenet = () -> Models.create(Models.Kind.LENET, SHAPE, 10, 1e-3, 7);
        List<Network> replicas = trainOnWorkers(lenet, local, Credentials.derive(new byte[]{1, 2, 3}, "math-test", false), 2);
        for (Network r : replicas.subList(1, workers)) assertEquals(replicas.get(0).params(), r.params(), "all four replicas stay identical");
        assertSameTraining(reference, replicas, lenet, "lenet, 4 workers in 2 local groups");
    }

    /**
     * A ComputationGraph with batch normalisation (the residual network), each worker on its own examples.
     * Normalisation in training uses each worker's own mini-batch (as in DL4J's and Horovod's data-parallel
     * training without synchronised batch normalisation), so the one-machine computation to compare with is
     * that definition, taken step by step with DL4J's own gradient and updater: the gradients of the two
     * mini-batches summed, the running statistics' changes averaged, one update. Plain SGD: Adam divides by
     * the root of its second moment, which turns rounding noise in gradients that batch normalisation makes
     * nearly zero into steps as large as the learning rate.
     */
    @Test
    void aResidualNetworkWithBatchNormalisationMatchesItsOneMachineDefinition() throws Exception {
        int steps = 4, b = 16;
        List<LabeledImage> examples = digits(steps * b * WORKERS);
        Network reference = resnetWithSgd();
        List<List<DataSet>> local = List.of(new ArrayList<>(), new ArrayList<>());
        for (int s = 0; s < steps; s++) {
            float[] sum = new float[(int) reference.numParams()];
            for (int w = 0; w < WORKERS; w++) {
                int from = (s * WORKERS + w) * b;
                DataSet batch = Batches.toDataSet(examples.subList(from, from + b), 10);
                local.get(w).add(batch);
                reference.computeGradient(batch.getFeatures(), batch.getLabels());
                float[] g = reference.gradients().toFloatVector();
                for (int i = 0; i < sum.length; i++) sum[i] += g[i];
            }
            for (long[] r : reference.runningStatistics()) {
                for (int i = (int) r[0]; i < r[1]; i++) sum[i] /= WORKERS;
            }
            reference.gradients().assign(Nd4j.createFromArray(sum).reshape(reference.gradients().shape()));
            reference.applyUpdater(WORKERS * b);
            reference.params().subi(reference.gradients());
            reference.iteration(reference.iteration() + 1);
        }
        List<Network> replicas = trainOnWorkers(DataParallelMathTest::resnetWithSgd, local);
        assertSameTraining(reference, replicas, DataParallelMathTest::resnetWithSgd, "resnet");
    }

    /**
     * The running mean and variance move as far as DL4J's own fit() moves them. Both workers get the same b
     * examples and one machine fits them twice over (2b): the same batch statistics. Summed over the workers
     * instead of averaged, the running statistics would move twice as far (a difference as large as their
     * movement). On these images two float32 batch normalisations of b and of 2b examples differ by about
     * 0.4% of a step (channels of small variance amplify rounding), so the check is relative.
     */
    @Test
    void batchNormalisationStatisticsMoveAsFarAsOneMachinesFit() throws Exception {
        int b = 16;
        List<LabeledImage> batch = digits(b);
        List<LabeledImage> twice = new ArrayList<>(batch);
        twice.addAll(batch);
        Network reference = resnetWithSgd();
        reference.graph().fit(Batches.toDataSet(twice, 10));
        List<Network> replicas = trainOnWorkers(DataParallelMathTest::resnetWithSgd,
                List.of(List.of(Batches.toDataSet(batch, 10)), List.of(Batches.toDataSet(batch, 10))));
        INDArray initial = resnetWithSgd().params(), fit = reference.params(), dp = replicas.get(0).params();
        double worst = 0;
        for (long[] r : reference.runningStatistics()) {
            INDArrayIndex[] range = {NDArrayIndex.point(0), NDArrayIndex.interval(r[0], r[1])};
            double moved = fit.get(range).sub(initial.get(range)).amaxNumber().doubleValue();
            double diff = fit.get(range).sub(dp.get(range)).amaxNumber().doubleValue();
            assertTrue(moved > 0, "the running statistics moved");
            worst = Math.max(worst, diff / moved);
        }
        System.out.printf("[data-parallel math] batch normalisation running statistics: 2 workers vs fit() differ by at most %.2f%% of their movement%n", 100 * worst);
        assertTrue(worst < 0.02, "running statistics differ by " + 100 * worst + "% of their movement");
    }

    private static Network resnetWithSgd() {
        ComputationGraph g = new ComputationGraph(Models.resnet(SHAPE, 10, new Sgd(0.05), 7));
        g.init();
        return Network.of(g);
    }

    private static final Shape SHAPE = new Shape(28, 28, 1);

    private static List<LabeledImage> digits(int n) throws Exception {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[n];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        List<LabeledImage> examples = new ArrayList<>();
        digits.pool().read(idx).forEachRemaining(examples::add);
        return examples;
    }

    /**
     * Encryption of the summation service (AES-GCM, as with spark.network.crypto.enabled) changes nothing in
     * what is trained: the same batches end in the same parameters, bit for bit.
     */
    @Test
    void anEncryptedServiceTrainsTheSameParametersBitForBit() throws Exception {
        List<LabeledImage> examples = digits(4 * B * WORKERS);
        List<List<DataSet>> local = List.of(new ArrayList<>(), new ArrayList<>());
        for (int s = 0; s < 4; s++) {
            for (int w = 0; w < WORKERS; w++) local.get(w).add(Batches.toDataSet(examples.subList((s * WORKERS + w) * B, (s * WORKERS + w + 1) * B), 10));
        }
        Supplier<Network> lenet = () -> Models.create(Models.Kind.LENET, SHAPE, 10, 1e-3, 7);
        List<Network> clear = trainOnWorkers(lenet, local, Credentials.derive(new byte[]{1, 2, 3}, "math-test", false));
        List<Network> encrypted = trainOnWorkers(lenet, local, Credentials.derive(new byte[]{1, 2, 3}, "math-test", true));
        assertTrue(clear.get(0).params().sub(lenet.get().params()).amaxNumber().doubleValue() > 1e-3, "training moved the parameters");
        assertEquals(clear.get(0).params(), encrypted.get(0).params(), "the same parameters with encryption on");
        assertEquals(encrypted.get(0).params(), encrypted.get(1).params(), "encrypted replicas stay identical");
    }

    /** One replica per worker, each stepping through its own list of mini-batches, through real summation servers. */
    private static List<Network> trainOnWorkers(Supplier<Network> model, List<List<DataSet>> local) throws Exception {
        return trainOnWorkers(model, local, Credentials.derive(new byte[]{1, 2, 3}, "math-test", false));
    }

    private static List<Network> trainOnWorkers(Supplier<Network> model, List<List<DataSet>> local, Credentials token) throws Exception {
        return trainOnWorkers(model, local, token, 1);
    }

    /**
     * {@code local.size()} workers, in local groups of {@code perGroup} (tasks of one JVM: the first of each
     * group alone talks to the servers, see {@link LocalGroup}), through two real summation servers.
     */
    private static List<Network> trainOnWorkers(Supplier<Network> model, List<List<DataSet>> local, Credentials token, int perGroup) throws Exception {
        int workers = local.size(), groups = workers / perGroup;
        long params = model.get().numParams();
        List<SummationServer> servers = new ArrayList<>();
        List<LocalGroup> localGroups = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            for (int i = 0; i < 2; i++) servers.add(new SummationServer(InetAddress.getLoopbackAddress(), 0, token, groups,
                    DataParallelWorker.keySpace(params, 64 * 1024, workers, false), Duration.ofSeconds(60)));
            var endpoints = servers.stream().map(SummationServer::address).toList();
            for (int g = 0; g < groups; g++) localGroups.add(LocalGroup.join("math-test/" + g, perGroup, Duration.ofSeconds(60)));
            List<Future<Network>> replicas = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                int worker = w, group = w / perGroup, rank = w % perGroup;
                replicas.add(pool.submit(() -> {
                    Network net = model.get();
                    try (SummationClient c = rank == 0 ? new SummationClient(endpoints, token, group, groups, Duration.ofSeconds(60)) : null) {
                        PushPull ps = perGroup == 1 ? c : localGroups.get(group).member(rank, c, () -> false);
                        DataParallelWorker dp = new DataParallelWorker(net, ps, workers, 64 * 1024, Compression.NONE, 0);
                        for (DataSet batch : local.get(worker)) dp.step(batch);
                    }
                    return net;
                }));
            }
            List<Network> done = new ArrayList<>();
            for (Future<Network> f : replicas) done.add(f.get());
            return done;
        } finally {
            pool.shutdownNow();
            for (LocalGroup g : localGroups) {
                for (int m = 0; m < perGroup; m++) g.close();
            }
            servers.forEach(SummationServer::close);
        }
    }

    private static void assertSameTraining(Network reference, List<Network> replicas, Supplier<Network> initial, String name) {
        Network a = replicas.get(0), b = replicas.get(1);
        assertEquals(a.params(), b.params(), "replicas stay identical");
        double diff = a.params().sub(reference.params()).amaxNumber().doubleValue();
        double moved = reference.params().sub(initial.get().params()).amaxNumber().doubleValue();
        System.out.printf("[data-parallel math] %s: max |%d workers - fit()| = %.3e after %d steps (parameters moved up to %.3e)%n",
                name, replicas.size(), diff, reference.iteration(), moved);
        assertTrue(moved > 1e-3, "training moved the parameters");
        assertTrue(diff < TOLERANCE, "max difference " + diff);
        assertEquals(reference.iteration(), a.iteration());
    }

    private static final Credentials NAN_TEST = Credentials.derive(new byte[]{4}, "nan-test", false);

    /** A worker whose gradient is NaN: the sum every replica would apply is not finite, so the step fails and no replica moves. */
    @Test
    void aSumThatIsNotFiniteFailsTheStepBeforeAnyReplicaMoves() throws Exception {
        Dataset digits = Dataset.open("digits", new Configuration());
        Network net = Models.create(Models.Kind.MLP, digits.shape(), 10, 1e-3, 7);
        int partition = 64 * 1024;
        List<LabeledImage> examples = new ArrayList<>();
        digits.pool().read(new int[]{0, 1, 2, 3, 4, 5, 6, 7}).forEachRemaining(examples::add);
        try (SummationServer server = new SummationServer(InetAddress.getLoopbackAddress(), 0, NAN_TEST, 2,
                DataParallelWorker.keySpace(net.numParams(), partition, 2, false), Duration.ofSeconds(60));
             SummationClient c0 = new SummationClient(List.of(server.address()), NAN_TEST, 0, 2, Duration.ofSeconds(60));
             SummationClient c1 = new SummationClient(List.of(server.address()), NAN_TEST, 1, 2, Duration.ofSeconds(60))) {
            float[] poisoned = new float[(int) net.numParams()];
            Arrays.fill(poisoned, Float.NaN);
            Thread other = new Thread(() -> c1.pushPull(poisoned, DataParallelWorker.GRADIENT_KEYS, 0, partition / 4, Compression.NONE));
            other.start();
            INDArray before = net.params().dup();
            DataParallelWorker dp = new DataParallelWorker(net, c0, 2, partition, Compression.NONE, 0);
            LiveTrainException e = assertThrows(LiveTrainException.class, () -> dp.step(Batches.toDataSet(examples, 10)));
            assertTrue(e.getMessage().startsWith("step 0: the gradient summed over the workers is not finite"), e.getMessage());
            assertEquals(before, net.params(), "the replica did not apply it");
            other.join(10_000);
        }
    }
}
