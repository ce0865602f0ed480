package org.livetrain.store;

import org.livetrain.image.InputContract;
import org.livetrain.model.Network;

/** A verified, loaded checkpoint, with the contract its input is prepared by. */
public record Checkpoint(Network network, CheckpointMeta meta, Pointer pointer, InputContract input) {
}
