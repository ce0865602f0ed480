package org.livetrain.model;

import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.image.Shape;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.preprocessor.NormalizerStandardize;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InvalidClassException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reading a model never runs Java deserialization (issue 25, point 2): DL4J 1.0.0-M2 reads a zip entry
 * {@code preprocessor.bin} with {@code ObjectInputStream.readObject()}, and whoever writes a checkpoint
 * directory writes the zip. A planted object records whether its {@code readObject} ran.
 */
@Tag("fast")
public class ModelZipTest {
    /** What an attacker plants: any serializable class whose readObject does something. */
    public static final class Planted implements Serializable {
        private static final long serialVersionUID = 1L;
        public static volatile boolean ran;

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            ran = true;
        }
    }

    @BeforeEach
    void reset() {
        Planted.ran = false;
    }

    public static byte[] serialized(Object o) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(b)) {
            out.writeObject(o);
        }
        return b.toByteArray();
    }

    static byte[] modelZip() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        Models.create(Models.Kind.MLP, new Shape(8, 8, 1), 3, 1e-3, 1).write(b, true);
        return b.toByteArray();
    }

    /** {@code zip} with one entry more (or one replaced). */
    public static byte[] with(byte[] zip, String name, byte[] content) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip)); ZipOutputStream out = new ZipOutputStream(b)) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                if (e.getName().equals(name)) continue;
                out.putNextEntry(new ZipEntry(e.getName()));
                in.transferTo(out);
            }
            out.putNextEntry(new ZipEntry(name));
            out.write(content);
        }
        return b.toByteArray();
    }

    @Test
    void aPlantedPreprocessorIsRefusedAndNeverDeserialized() throws Exception {
        byte[] zip = with(modelZip(), ModelSerializer.PREPROCESSOR_BIN, serialized(new Planted()));
        IOException e = assertThrows(IOException.class, () -> Network.read(zip, false));
        assertTrue(e.getMessage().contains("preprocessor.bin, which DL4J would read with Java deserialization"), e.getMessage());
        assertFalse(Planted.ran, "the planted object's readObject ran");
        assertThrows(IOException.class, () -> Network.read(zip, false, ModelZip.Origin.ELSEWHERE), "nor in a zip from elsewhere");
        assertFalse(Planted.ran);
    }

    @Test
    void entriesNoModelHasAndClassesThatAreNotDl4jsAreRefused() throws Exception {
        IOException unknown = assertThrows(IOException.class, () -> Network.read(with(modelZip(), "objects/x.bin", new byte[]{1}), false));
        assertEquals("an entry objects/x.bin that no model zip has", unknown.getMessage());
        String json = new String(readEntry(modelZip(), ModelSerializer.CONFIGURATION_JSON), StandardCharsets.UTF_8)
                .replaceFirst("org\\.nd4j\\.linalg\\.activations\\.impl\\.ActivationReLU", "java.lang.ProcessBuilder");
        IOException foreign = assertThrows(IOException.class,
                () -> Network.read(with(modelZip(), ModelSerializer.CONFIGURATION_JSON, json.getBytes(StandardCharsets.UTF_8)), false));
        assertTrue(foreign.getMessage().contains("names the class java.lang.ProcessBuilder, which is not DL4J's or ND4J's"), foreign.getMessage());
    }

    /** A DL4J zip saved with its normalizer works for --init-from, the normalizer unread; a checkpoint never has one. */
    @Test
    void aNormalizerIsDroppedFromAZipOfElsewhereAndRefusedInACheckpoint() throws Exception {
        Network net = Models.create(Models.Kind.MLP, new Shape(8, 8, 1), 3, 1e-3, 1);
        byte[] zip;
        NormalizerStandardize norm = new NormalizerStandardize();
        norm.fit(new DataSet(Nd4j.rand(4, 64), Nd4j.zeros(4, 3)));
        File file = Files.createTempFile("dl4j-with-normalizer", ".zip").toFile();
        try {
            ModelSerializer.writeModel(net.model(), file, false);
            ModelSerializer.addNormalizerToModel(file, norm); // as DL4J's own examples save a model with its normalizer
            zip = Files.readAllBytes(file.toPath());
        } finally {
            file.delete();
        }
        assertEquals(net.params(), Network.read(zip, false, ModelZip.Origin.ELSEWHERE).params());
        IOException e = assertThrows(IOException.class, () -> Network.read(zip, false));
        assertTrue(e.getMessage().contains("normalizer.bin"), e.getMessage());
    }

    @Test
    void ourOwnZipsReadBackExactly() throws Exception {
        Network net = Models.create(Models.Kind.LENET, new Shape(28, 28, 1), 10, 1e-3, 3);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        net.write(b, true);
        Network back = Network.read(b.toByteArray(), true);
        assertEquals(net.params(), back.params());
        assertEquals(net.updaterState(), back.updaterState());
        Network graph = Models.create(Models.Kind.RESNET, new Shape(28, 28, 1), 10, 1e-3, 3);
        b.reset();
        graph.write(b, false);
        assertTrue(Network.read(b.toByteArray(), false).isGraph());
    }

    /** The second line: while a model is read, Java deserialization on that thread refuses every class; elsewhere nothing changes. */
    @Test
    void whileAModelIsReadJavaDeserializationRefusesEveryClass() throws Exception {
        assertTrue(NoDeserialization.installed());
        byte[] planted = serialized(new Planted());
        InvalidClassException refused = assertThrows(InvalidClassException.class, () -> NoDeserialization.during(() -> {
            try {
                return new ObjectInputStream(new ByteArrayInputStream(planted)).readObject();
            } catch (ClassNotFoundException e) {
                throw new IOException(e);
            }
        }));
        assertTrue(refused.getMessage().contains("REJECTED"), refused.getMessage());
        assertFalse(Planted.ran);
        assertTrue(new ObjectInputStream(new ByteArrayInputStream(planted)).readObject() instanceof Planted, "outside a model read, as before");
        assertTrue(Planted.ran);
    }

    private static byte[] readEntry(byte[] zip, String name) throws IOException {
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                if (e.getName().equals(name)) return in.readAllBytes();
            }
        }
        throw new IOException("no " + name);
    }
}
