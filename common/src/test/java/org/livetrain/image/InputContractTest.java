package org.livetrain.image;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.LiveTrainException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The input contract: inside a model zip, refused when a server cannot honour it, and its normalisation. */
@Tag("fast")
class InputContractTest {
    static final InputContract RGB = InputContract.of(new Shape(2, 2, 3), Profile.RGB, List.of("a", "b"))
            .withNormalisation(new float[]{0.5f, 0.4f, 0.3f}, new float[]{0.25f, 0.2f, 0.1f});

    static byte[] zip() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(b)) {
            z.putNextEntry(new ZipEntry("configuration.json"));
            z.write("{}".getBytes());
            z.closeEntry();
        }
        return b.toByteArray();
    }

    @Test
    void travelsInsideTheModelZip() throws Exception {
        byte[] model = RGB.addTo(zip());
        InputContract back = InputContract.in(model, "model.zip").orElseThrow();
        assertEquals(RGB.profile(), back.profile());
        assertEquals(RGB.shape(), back.shape());
        assertArrayEquals(RGB.mean(), back.mean());
        assertEquals(List.of("a", "b"), back.classes());
        assertTrue(InputContract.in(zip(), "old.zip").isEmpty(), "a model zip from before contracts has none");
        int entries = 0;
        try (var in = new ZipInputStream(new ByteArrayInputStream(RGB.addTo(model)))) {
            for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) if (e.getName().equals(InputContract.ZIP_ENTRY)) entries++;
        }
        assertEquals(1, entries, "adding it again replaces it");
    }

    @Test
    void aContractThisServerCannotHonourIsRefusedWithWhy() {
        var later = new InputContract(InputContract.VERSION + 1, 28, 28, 1, "digit", null, null, List.of("a"));
        assertTrue(assertThrows(LiveTrainException.class, () -> later.check("x/meta.json")).getMessage()
                .startsWith("x/meta.json: input contract version 2 is newer than this LiveTrain understands"));
        var sepia = new InputContract(1, 28, 28, 1, "sepia", null, null, List.of("a"));
        assertTrue(assertThrows(LiveTrainException.class, () -> sepia.check("x")).getMessage().contains("unknown profile sepia (this LiveTrain knows digit, object, rgb)"));
        var mixed = new InputContract(1, 28, 28, 1, "rgb", null, null, List.of("a"));
        assertTrue(assertThrows(LiveTrainException.class, () -> mixed.check("x")).getMessage().contains("profile rgb with 1 channel(s)"));
        assertEquals(RGB, RGB.check("x"));
    }

    @Test
    void normalisesEachChannelAfterThePreparation() {
        float[] px = {0.5f, 0.75f, 0.5f, 0.5f, 0.4f, 0.4f, 0.6f, 0.4f, 0.3f, 0.3f, 0.3f, 0.4f};
        float[] n = RGB.normalise(px.clone());
        assertEquals(1f, n[1], 1e-6);
        assertEquals(1f, n[6], 1e-6);
        assertEquals(1f, n[11], 1e-6);
        assertEquals(0f, n[0], 1e-6);
    }
}
