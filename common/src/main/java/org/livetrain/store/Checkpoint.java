package org.livetrain.store;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/** A verified, loaded checkpoint. */
public record Checkpoint(MultiLayerNetwork network, CheckpointMeta meta, Pointer pointer) {
}
