package org.livetrain.store;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.livetrain.image.InputContract;

/** A verified, loaded checkpoint, with the contract its input is prepared by. */
public record Checkpoint(MultiLayerNetwork network, CheckpointMeta meta, Pointer pointer, InputContract input) {
}
