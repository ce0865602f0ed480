package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.model.Models;
import org.livetrain.ps.Compression;
import org.livetrain.ps.SummationClient;
import org.livetrain.ps.SummationServer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The BytePS path computes the same training as one machine: 2 workers x batch b through real summation
 * servers end where DL4J's own fit() on batches of 2b ends. Float32 sums taken in another order are not
 * bit-identical, so the comparison allows 1e-5 (parameters are of order 0.1).
 */
class DataParallelMathTest {
    static final int STEPS = 20, B = 32, WORKERS = 2;
    static final double TOLERANCE = 1e-5;

    @Test
    void twoWorkersMatchOneMachineWithTheDoubleBatch() throws Exception {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[STEPS * B * WORKERS];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        List<LabeledImage> examples = new ArrayList<>();
        digits.pool().read(idx).forEachRemaining(examples::add);

        MultiLayerNetwork reference = Models.create(Models.Kind.LENET, digits.shape(), 10, 1e-3, 7);
        for (int s = 0; s < STEPS; s++) {
            reference.fit(Batches.toDataSet(examples.subList(s * 2 * B, (s + 1) * 2 * B), 10));
        }

        String token = "math-test";
        List<SummationServer> servers = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
        try {
            for (int i = 0; i < WORKERS; i++) servers.add(new SummationServer(InetAddress.getLoopbackAddress(), 0, token, WORKERS,
                    DataParallelWorker.keySpace(reference.numParams(), 64 * 1024, WORKERS, false), Duration.ofSeconds(60)));
            var endpoints = servers.stream().map(SummationServer::address).toList();
            List<Future<MultiLayerNetwork>> replicas = new ArrayList<>();
            for (int w = 0; w < WORKERS; w++) {
                int worker = w;
                replicas.add(pool.submit(() -> {
                    MultiLayerNetwork net = Models.create(Models.Kind.LENET, digits.shape(), 10, 1e-3, 7);
                    try (SummationClient c = new SummationClient(endpoints, token, worker, WORKERS, Duration.ofSeconds(60))) {
                        DataParallelWorker dp = new DataParallelWorker(net, c, WORKERS, 64 * 1024, Compression.NONE, 0);
                        for (int s = 0; s < STEPS; s++) {
                            int from = s * 2 * B + worker * B;
                            DataSet local = Batches.toDataSet(examples.subList(from, from + B), 10);
                            dp.step(local);
                        }
                    }
                    return net;
                }));
            }
            MultiLayerNetwork a = replicas.get(0).get(), b = replicas.get(1).get();
            assertEquals(a.params(), b.params(), "replicas stay identical");
            double diff = a.params().sub(reference.params()).amaxNumber().doubleValue();
            double moved = reference.params().sub(Models.create(Models.Kind.LENET, digits.shape(), 10, 1e-3, 7).params()).amaxNumber().doubleValue();
            System.out.printf("[data-parallel math] max |2 workers - fit()| = %.3e after %d steps (parameters moved up to %.3e)%n", diff, STEPS, moved);
            assertTrue(moved > 1e-3, "training moved the parameters");
            assertTrue(diff < TOLERANCE, "max difference " + diff);
            assertEquals(reference.getIterationCount(), a.getIterationCount());
        } finally {
            pool.shutdownNow();
            servers.forEach(SummationServer::close);
        }
    }

    /** A worker whose gradient is NaN: the sum every replica would apply is not finite, so the step fails and no replica moves. */
    @Test
    void aSumThatIsNotFiniteFailsTheStepBeforeAnyReplicaMoves() throws Exception {
        Dataset digits = Dataset.open("digits", new Configuration());
        MultiLayerNetwork net = Models.create(Models.Kind.MLP, digits.shape(), 10, 1e-3, 7);
        int partition = 64 * 1024;
        List<LabeledImage> examples = new ArrayList<>();
        digits.pool().read(new int[]{0, 1, 2, 3, 4, 5, 6, 7}).forEachRemaining(examples::add);
        try (SummationServer server = new SummationServer(InetAddress.getLoopbackAddress(), 0, "nan-test", 2,
                DataParallelWorker.keySpace(net.numParams(), partition, 2, false), Duration.ofSeconds(60));
             SummationClient c0 = new SummationClient(List.of(server.address()), "nan-test", 0, 2, Duration.ofSeconds(60));
             SummationClient c1 = new SummationClient(List.of(server.address()), "nan-test", 1, 2, Duration.ofSeconds(60))) {
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
