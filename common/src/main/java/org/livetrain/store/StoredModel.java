package org.livetrain.store;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;
import org.livetrain.image.InputContract;
import org.livetrain.io.Storage;
import org.livetrain.model.Network;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * A checkpoint's model as bytes that were verified: its {@code model.zip} (sha256 checked against its
 * pointer), the pointer that names it (run, step, dev accuracy, sha256) and the contract its input is
 * prepared by. What travels to executors, and what a saved Spark ML model keeps, in a folder of its own:
 * <pre>
 * DIR/model.zip        the checkpoint's model.zip, byte for byte (its contract inside, as livetrain/input.json)
 * DIR/checkpoint.json  its {@link Pointer}: run, step, epoch, sha256, dev accuracy, where it was in its checkpoint directory
 * DIR/input.json       its {@link InputContract} (also for a checkpoint older than contracts inside model.zip)
 * </pre>
 * Nothing in such a folder is trusted: the zip is bounded and checked against the pointer's sha256, the
 * contract is checked, and the network is read as every checkpoint is ({@link Network#read}, no Java objects).
 */
public record StoredModel(byte[] zip, Pointer pointer, InputContract input, String origin) implements Serializable {
    static final String ZIP = "model.zip", POINTER = "checkpoint.json", INPUT = "input.json";

    /** The network, refused as a corrupt checkpoint when it is not a loadable model. */
    public Network network(boolean withUpdater) {
        try {
            return Network.read(zip, withUpdater);
        } catch (IOException | RuntimeException e) {
            throw new CorruptCheckpointException(origin + ": not a loadable model (" + Storage.firstLine(e) + ")", e);
        }
    }

    /** {@code bytes} as the model {@code pointer} names, or a corrupt checkpoint when their sha256 differs from the pointer's (and the metadata's). */
    static byte[] verified(byte[] bytes, Pointer pointer, String metaSha256, String where) {
        String actual = CheckpointStore.sha256(bytes);
        if (!actual.equals(pointer.sha256()) || !actual.equals(metaSha256)) {
            throw new CorruptCheckpointException(where + ": checksum mismatch (sha256 " + actual + ", expected " + pointer.sha256() + "); refusing it", null);
        }
        return bytes;
    }

    /** Writes the three files into {@code dir} (which the caller created empty). */
    public void write(FileSystem fs, Path dir) throws IOException {
        Storage.write(fs, new Path(dir, ZIP), zip, false);
        Storage.write(fs, new Path(dir, POINTER), pointer.toJson().getBytes(StandardCharsets.UTF_8), false);
        Storage.write(fs, new Path(dir, INPUT), input.toJson(), false);
    }

    /** Reads what {@link #write} wrote, verified: a missing file, a wrong checksum or contract is one line naming the file. */
    public static StoredModel read(FileSystem fs, Path dir) {
        Path zipFile = new Path(dir, ZIP), pointerFile = new Path(dir, POINTER), inputFile = new Path(dir, INPUT);
        Pointer pointer;
        try {
            pointer = Pointer.fromJson(new String(bytes(fs, pointerFile, Storage.MAX_JSON), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new CorruptCheckpointException(pointerFile + ": " + e.getMessage(), e);
        }
        if (pointer.sha256() == null) throw new CorruptCheckpointException(pointerFile + ": not a checkpoint pointer (no sha256)", null);
        byte[] zip = verified(bytes(fs, zipFile, Storage.MAX_MODEL), pointer, pointer.sha256(), zipFile.toString());
        try {
            Optional<InputContract> inZip = InputContract.in(zip, zipFile.toString());
            InputContract input = inZip.isPresent() ? inZip.get() : InputContract.fromJson(bytes(fs, inputFile, Storage.MAX_JSON), inputFile.toString());
            return new StoredModel(zip, pointer, input.check(zipFile.toString()), zipFile.toString());
        } catch (CorruptCheckpointException e) {
            throw e;
        } catch (LiveTrainException e) {
            throw new CorruptCheckpointException(e.getMessage(), e);
        }
    }

    /** A file of a saved model, bounded by {@code max}. */
    private static byte[] bytes(FileSystem fs, Path file, long max) {
        return bytes(fs, file, max, "not a saved LiveTrain model");
    }

    /** A model's file, bounded by {@code max}: too large is corrupt; missing is one line saying {@code whyMissing}. */
    static byte[] bytes(FileSystem fs, Path file, long max, String whyMissing) {
        try {
            return Storage.readAll(fs, file, max);
        } catch (FileNotFoundException e) {
            throw new LiveTrainException(file + ": missing (" + whyMissing + ")");
        } catch (Storage.TooLarge e) {
            throw new CorruptCheckpointException(e.getMessage() + "; refusing it", e);
        } catch (IOException e) {
            throw Storage.problem(file + ": unreadable", e);
        }
    }
}
