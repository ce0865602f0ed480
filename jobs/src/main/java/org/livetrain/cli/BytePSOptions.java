package org.livetrain.cli;

import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.ps.Compression;
import picocli.CommandLine.Option;

/** The options of {@code train} that only the byteps trainer reads. */
final class BytePSOptions {
    @Option(names = "--eval-every", paramLabel = "K", description = "byteps: evaluate on the dev split (and checkpoint) every K steps, and at each epoch end.")
    int evalEvery;

    @Option(names = "--servers", paramLabel = "S", description = "byteps: 0 runs one summation server in each worker task (colocated); S > 0 runs S dedicated server tasks.")
    int servers;

    @Option(names = "--partition-bytes", paramLabel = "BYTES", description = "byteps: gradients are cut into chunks of this size, spread over the servers.")
    int partitionBytes;

    @Option(names = "--compress", paramLabel = "none|fp16", description = "byteps: fp16 halves the bytes on the wire.")
    Compression compress;

    @Option(names = "--async", description = "byteps: asynchronous: the servers hold the weights, each worker adds its own step and continues"
            + " from the weights it gets back, without waiting for the others (no staleness bound). Each worker's step counts in full:"
            + " lower the learning rate as workers are added.")
    boolean async;

    @Option(names = "--augment", description = "byteps: random changes of the training images that fit their profile (digits: small rotations,"
            + " scalings and shifts; objects and photos: flips and shifts), applied on the workers.")
    boolean augment;

    TrainConfig.BytePS settings() {
        return new TrainConfig.BytePS(evalEvery, servers, partitionBytes, compress, async, augment);
    }
}
