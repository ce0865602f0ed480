package org.livetrain.jobs.dl4j;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.AdaptiveThresholdAlgorithm;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.livetrain.LiveTrainException;
import org.livetrain.jobs.training.TrainConfig;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.nd4j.parameterserver.distributed.v2.ModelParameterServer;
import org.nd4j.parameterserver.distributed.v2.transport.Transport;
import org.nd4j.parameterserver.distributed.v2.transport.impl.AeronUdpTransport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * DL4J's gradient-sharing trainer ({@link SharedTrainingMaster}), set up for {@code --trainer shared}.
 *
 * <pre>
 * who                 what it runs                                  address
 * driver              the mesh's root (a "silent worker" that        controller: 127.0.0.1 in local mode,
 *                     applies every update to the driver's copy)     else spark.driver.host; a free UDP port
 * each executor JVM   one ParallelWrapper of workers-per-node        127.0.0.1 in local mode (it shares the
 *                     threads; threshold-encoded updates over Aeron  driver's server), else the address in
 *                     UDP to the mesh                                spark.livetrain.shared.networkMask
 * </pre>
 * Settings: each worker fits mini-batches of {@code --batch}; updates are threshold-encoded with DL4J's
 * default adaptive threshold (1e-3 at the start); workers per node are {@code --workers} in local mode
 * (all tasks run in the one JVM) and {@code spark.executor.cores} on a cluster. Aeron's media driver
 * lives in /dev/shm. One master per training run: DL4J keeps one parameter server per JVM.
 */
final class SharedMaster {
    static final String NETWORK_MASK = "spark.livetrain.shared.networkMask";
    private static final double INITIAL_THRESHOLD = 1e-3;

    private SharedMaster() {
    }

    static SharedTrainingMaster create(JavaSparkContext jsc, TrainConfig c) {
        // Aeron refuses a publication "unblock" timeout below its client liveness timeout; DL4J sets the latter to 60 s
        System.setProperty("aeron.publication.unblock.timeout", "60000000000");
        // Aeron's files in /dev/shm go when the parameter server stops, not one directory per run forever
        System.setProperty("aeron.dir.delete.on.shutdown", "true");
        SparkConf conf = jsc.getConf();
        boolean local = jsc.isLocal();
        String address = local ? "127.0.0.1" : conf.get("spark.driver.host", "127.0.0.1");
        VoidConfiguration.VoidConfigurationBuilder vc = VoidConfiguration.builder().controllerAddress(address).unicastPort(freeUdpPort(address));
        if (!local) vc.networkMask(networkMask(jsc));
        int perNode = local ? c.workers() : conf.getInt("spark.executor.cores", 1);
        return new SharedTrainingMaster.Builder(vc.build(), c.workers(), new AdaptiveThresholdAlgorithm(INITIAL_THRESHOLD), c.batch())
                .batchSizePerWorker(c.batch())
                .workersPerNode(perNode)
                .workerPrefetchNumBatches(0)
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .repartitionData(Repartition.Never)
                // the shards are already one per worker; DL4J's default repartitioner would cut them into one
                // partition per mini-batch, each a task that starts DL4J's ParallelWrapper again (7x slower here)
                .repartitioner(null)
                .storageLevel(StorageLevel.MEMORY_ONLY())
                .collectTrainingStats(false)
                .rngSeed(c.seed())
                .build();
    }

    /** On a cluster, the executors' network, from which each executor picks its address; refused before the run starts when missing. */
    static String networkMask(JavaSparkContext jsc) {
        String mask = jsc.getConf().get(NETWORK_MASK, null);
        if (mask == null) throw new LiveTrainException("--trainer shared: on a cluster, set --conf " + NETWORK_MASK + "=CIDR (the executors' network, e.g. 10.0.0.0/24)");
        return mask;
    }

    /**
     * Stops the JVM's parameter server (Aeron's threads and its files in /dev/shm). DL4J's transport polls its
     * subscription in an endless loop (1 microsecond sleeps, about an eighth of a core) that its own shutdown
     * leaves running: without its subscription that loop ends.
     */
    static void shutdown() {
        ModelParameterServer mps = ModelParameterServer.getInstance();
        if (!mps.isInitialized()) return;
        Transport transport = mps.getTransport();
        mps.shutdown();
        if (transport instanceof AeronUdpTransport) {
            quietPollers(); // the loop ends with a NullPointerException, the end we want
            try {
                Field polled = AeronUdpTransport.class.getDeclaredField("ownSubscription");
                polled.setAccessible(true);
                polled.set(transport, null);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("DL4J's AeronUdpTransport changed: " + e, e);
            }
        }
    }

    private static void quietPollers() {
        Thread.getAllStackTraces().forEach((t, stack) -> {
            for (StackTraceElement f : stack) {
                if (f.getClassName().startsWith(AeronUdpTransport.class.getName() + "$")) t.setUncaughtExceptionHandler((th, e) -> { });
            }
        });
    }

    private static int freeUdpPort(String address) {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(address), 0))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("--trainer shared: no free UDP port on " + address, e);
        }
    }
}
