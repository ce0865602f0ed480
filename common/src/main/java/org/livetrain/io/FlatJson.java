package org.livetrain.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;

import java.io.IOException;
import java.util.Map;

/**
 * Reads a flat JSON object into a record of groups (a file format that stays flat while the code groups its
 * fields): each group is a record that takes the fields it knows from the same object ({@code
 * ignoreUnknown}); the record writes its groups {@code @JsonUnwrapped}, so the file is what it was.
 */
public abstract class FlatJson<T> extends StdDeserializer<T> {
    private static final ObjectMapper JSON = new ObjectMapper();

    protected FlatJson(Class<T> type) {
        super(type);
    }

    @Override
    public final T deserialize(JsonParser p, DeserializationContext ctx) throws IOException {
        return read(p.readValueAsTree());
    }

    /** The record, from the whole object. */
    protected abstract T read(JsonNode n) throws IOException;

    /** The group of that type: the fields of the object that it knows. */
    protected static <G> G group(JsonNode n, Class<G> type) throws IOException {
        return JSON.treeToValue(n, type);
    }

    /** A field of the object as that type, or null when absent or null. */
    protected static <V> V field(JsonNode n, String name, Class<V> type) throws IOException {
        return n.hasNonNull(name) ? JSON.treeToValue(n.get(name), type) : null;
    }

    /** A field holding an object of anything, as a map, or null. */
    protected static Map<String, Object> map(JsonNode n, String name) {
        return n.hasNonNull(name) ? JSON.convertValue(n.get(name), new TypeReference<Map<String, Object>>() { }) : null;
    }
}
