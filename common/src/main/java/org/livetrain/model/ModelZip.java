package org.livetrain.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.deeplearning4j.util.ModelSerializer;
import org.livetrain.image.InputContract;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * A model zip as LiveTrain reads it, checked before DL4J sees it: DL4J 1.0.0-M2 reads one of the entries it
 * knows with Java deserialization, and whoever can write a checkpoint directory can write a zip.
 * <pre>
 * entry                 written by                        read as
 * configuration.json    ModelSerializer                   JSON; every "@class" type id must name a class of DL4J or ND4J
 * coefficients.bin      ModelSerializer                   ND4J's binary array format
 * noParams.marker       ModelSerializer, no parameters    nothing
 * updaterState.bin      ModelSerializer, optional         ND4J's binary array format
 * livetrain/input.json  LiveTrain ({@link InputContract}) JSON without type ids
 * normalizer.bin        ModelSerializer with a normalizer never: dropped from a zip of elsewhere, refused in a checkpoint
 * preprocessor.bin      earlier DL4J                      never (Java deserialization): refused
 * anything else                                           refused
 * </pre>
 * DL4J is then given a new zip of the accepted entries only, so that what was checked is what it reads,
 * whatever the original's central directory says. Entries are read up to {@link #MAX_BYTES} in all.
 */
public final class ModelZip {
    /** Where a zip comes from: a checkpoint LiveTrain wrote, or a DL4J model from elsewhere ({@code --init-from}). */
    public enum Origin { CHECKPOINT, ELSEWHERE }

    /** The most a model's entries may hold, uncompressed. */
    public static final long MAX_BYTES = 1L << 30;
    private static final Set<String> READ = Set.of(ModelSerializer.CONFIGURATION_JSON, ModelSerializer.COEFFICIENTS_BIN,
            ModelSerializer.NO_PARAMS_MARKER, ModelSerializer.UPDATER_BIN, InputContract.ZIP_ENTRY);
    private static final Set<String> CLASS_PREFIXES = Set.of("org.deeplearning4j.", "org.nd4j.");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, byte[]> entries;

    private ModelZip(Map<String, byte[]> entries) {
        this.entries = entries;
    }

    /** The zip's entries, checked; the error names what is wrong with it in one line. */
    public static ModelZip check(byte[] zip, Origin origin) throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        long total = 0;
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                String name = e.getName();
                if (e.isDirectory()) continue;
                boolean dropped = origin == Origin.ELSEWHERE && name.equals(ModelSerializer.NORMALIZER_BIN);
                if (!READ.contains(name) && !dropped) throw new IOException(refusal(name));
                byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, MAX_BYTES - total + 1));
                total += bytes.length;
                if (total > MAX_BYTES) throw new IOException("its entries hold more than " + (MAX_BYTES >> 20) + " MiB uncompressed");
                if (dropped) continue;
                if (entries.put(name, bytes) != null) throw new IOException("two entries named " + name);
            }
        }
        if (!entries.containsKey(ModelSerializer.CONFIGURATION_JSON)) throw new IOException("no " + ModelSerializer.CONFIGURATION_JSON + " in it");
        checkClasses(entries.get(ModelSerializer.CONFIGURATION_JSON));
        return new ModelZip(entries);
    }

    private static String refusal(String name) {
        if (name.equals(ModelSerializer.PREPROCESSOR_BIN)) {
            return "an entry " + name + ", which DL4J would read with Java deserialization; refusing the model";
        }
        if (name.equals(ModelSerializer.NORMALIZER_BIN)) return "an entry " + name + ", which a checkpoint LiveTrain wrote never has";
        return "an entry " + (name.length() > 100 ? name.substring(0, 100) + "..." : name) + " that no model zip has";
    }

    /** DL4J's JSON names classes to instantiate: only its own and ND4J's may be named. */
    private static void checkClasses(byte[] configuration) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(configuration);
        } catch (JsonProcessingException e) {
            throw new IOException(ModelSerializer.CONFIGURATION_JSON + " is not JSON (" + e.getOriginalMessage() + ")");
        }
        checkClasses(root);
    }

    private static void checkClasses(JsonNode node) throws IOException {
        if (node.isArray()) {
            for (JsonNode n : node) checkClasses(n);
            return;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (f.getKey().equals("@class") && CLASS_PREFIXES.stream().noneMatch(p -> f.getValue().asText().startsWith(p))) {
                String c = f.getValue().asText();
                throw new IOException(ModelSerializer.CONFIGURATION_JSON + " names the class " + (c.length() > 100 ? c.substring(0, 100) + "..." : c)
                        + ", which is not DL4J's or ND4J's");
            }
            checkClasses(f.getValue());
        }
    }

    /** Whether the network is a ComputationGraph (its configuration has vertices) rather than a MultiLayerNetwork. */
    public boolean isGraph() {
        return isGraphJson(new String(entries.get(ModelSerializer.CONFIGURATION_JSON), StandardCharsets.UTF_8));
    }

    static boolean isGraphJson(String json) {
        return json.contains("\"vertices\"") && !json.contains("\"confs\"");
    }

    /** A zip of the accepted entries only, stored rather than compressed: what DL4J reads. */
    public byte[] forDl4j() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(entries.values().stream().mapToInt(b -> b.length + 128).sum() + 1024);
        try (ZipOutputStream out = new ZipOutputStream(bytes)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry z = new ZipEntry(e.getKey());
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                z.setMethod(ZipEntry.STORED);
                z.setSize(e.getValue().length);
                z.setCompressedSize(e.getValue().length);
                z.setCrc(crc.getValue());
                out.putNextEntry(z);
                out.write(e.getValue());
                out.closeEntry();
            }
        } catch (IOException e) {
            throw new IllegalStateException("a zip in memory: " + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }
}
