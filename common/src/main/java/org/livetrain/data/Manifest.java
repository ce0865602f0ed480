package org.livetrain.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.livetrain.LiveTrainException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A run's frozen listing: the examples a folder or table held when the run started, by key, so that
 * {@code --resume} trains on the same examples in the same shards even when files or rows were added
 * meanwhile (a retried stage already does: it reuses the driver's listing). The run layout's
 * {@code runs/RUN/manifest.json}:
 * <pre>
 * field     meaning
 * format    "livetrain-manifest", version 1
 * data      the run's --data spec
 * keys      each example's key as listed: a file's path relative to the folder ({@code <label>/<file>}),
 *           a table row's path column (or {@code <file>#<row>}); a key may repeat in a table
 * </pre>
 * Read with a size bound ({@link #MAX_BYTES}) as plain JSON values, never Java objects. IDX files and the
 * bundled digits cannot grow in place and have no manifest.
 */
public record Manifest(String format, int version, String data, List<String> keys) {
    public static final String FORMAT = "livetrain-manifest";
    /** About four million keys of 60 characters. */
    public static final long MAX_BYTES = 256L << 20;
    /** Keys named when some are missing. */
    private static final int NAMED = 3;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The listing of {@code data}, or empty for data that cannot change in place. */
    public static Optional<Manifest> of(Dataset data) {
        if (!(data.pool() instanceof EncodedPool pool)) return Optional.empty();
        List<String> keys = new ArrayList<>(pool.size());
        for (int i = 0; i < pool.size(); i++) keys.add(pool.key(i));
        return Optional.of(new Manifest(FORMAT, 1, data.spec(), keys));
    }

    public byte[] json() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The manifest in {@code bytes} (already read within {@link #MAX_BYTES}), or one line naming {@code where} and what is wrong. */
    public static Manifest parse(byte[] bytes, String where) {
        Manifest m;
        try {
            m = JSON.readValue(bytes, Manifest.class);
        } catch (JsonProcessingException e) {
            throw new LiveTrainException(where + ": not a valid manifest (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new LiveTrainException(where + ": not a valid manifest (" + e.getMessage() + ")");
        }
        if (!FORMAT.equals(m.format()) || m.version() != 1 || m.keys() == null || m.keys().contains(null)) {
            throw new LiveTrainException(where + ": not a version 1 " + FORMAT);
        }
        return m;
    }

    /** {@code data} as the run listed it, and how many examples found now were left out as new. */
    public record Frozen(Dataset data, int added) {
    }

    /**
     * The examples of {@code now} that this manifest lists, in the listing's order (which is the manifest's
     * order: both are sorted by file and row); refused in one line when some it lists are gone, since the run
     * could then not go on with the same examples.
     */
    public Frozen restrict(Dataset now, String run) {
        if (!(now.pool() instanceof EncodedPool pool)) throw new LiveTrainException("--resume " + run + ": its manifest lists files, but " + now.spec() + " is not a folder or table");
        Map<String, Integer> wanted = new HashMap<>();
        for (String k : keys) wanted.merge(k, 1, Integer::sum);
        int[] out = new int[pool.size()];
        int leftOut = 0;
        for (int i = 0; i < pool.size(); i++) {
            Integer n = wanted.get(pool.key(i));
            if (n == null) out[leftOut++] = i;
            else if (n == 1) wanted.remove(pool.key(i));
            else wanted.put(pool.key(i), n - 1);
        }
        if (!wanted.isEmpty()) {
            int gone = wanted.values().stream().mapToInt(Integer::intValue).sum();
            throw new LiveTrainException(String.format(Locale.ROOT, "--resume %s: %d of the %d examples it listed are gone from %s (%s%s); it cannot go on with"
                            + " the same examples: start a new run (--init-from its best model keeps what it learned)", run, gone, keys.size(), now.spec(),
                    String.join(", ", wanted.keySet().stream().sorted().limit(NAMED).toList()), gone > NAMED ? ", ..." : ""));
        }
        return new Frozen(now.without(Arrays.copyOf(out, leftOut)), leftOut);
    }
}
