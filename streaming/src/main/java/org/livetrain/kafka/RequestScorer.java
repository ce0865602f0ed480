package org.livetrain.kafka;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.HadoopConf;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.Scorer;
import org.livetrain.store.CheckpointStore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Scores the requests of one partition of a micro-batch on an executor: (key, value, topic, partition,
 * offset) in, (request id, JSON record) out. The best-model service is cached per executor JVM and per
 * checkpoint directory; it reloads when best.json changes, so the next micro-batch uses a new best
 * without a restart. No request can fail the stream: every problem becomes an error record.
 */
public final class RequestScorer implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, BestModelService> MODELS = new ConcurrentHashMap<>();

    private final String checkpointDir;
    private final HadoopConf hadoop;
    private final List<String> allowedRoots;
    private final long maxPixels;

    public RequestScorer(String checkpointDir, HadoopConf hadoop, List<String> allowedRoots, long maxPixels) {
        this.checkpointDir = checkpointDir;
        this.hadoop = hadoop;
        this.allowedRoots = allowedRoots;
        this.maxPixels = maxPixels;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> requests) {
        BestModelService models = MODELS.computeIfAbsent(checkpointDir,
                d -> new BestModelService(CheckpointStore.open(d, hadoop.get()), BestModelService.DEFAULT_POLL));
        models.poll(); // a micro-batch sees the best model as of its start
        Scorer scorer = new Scorer(models, new ImagePreprocessor(maxPixels),
                () -> "no checkpoint has been published in " + checkpointDir + " yet");
        List<Path> roots = realRoots();
        // lazily, one row at a time: a continuous-processing partition never ends
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return requests.hasNext();
            }

            @Override
            public Row next() {
                Row r = requests.next();
                byte[] key = r.getAs("key");
                String id = key != null ? new String(key, StandardCharsets.UTF_8)
                        : r.getAs("topic") + "-" + r.getAs("partition") + "-" + r.getAs("offset");
                ScoreRecord record = score(scorer, roots, id, r.getAs("value"));
                try {
                    return RowFactory.create(id, JSON.writeValueAsString(record));
                } catch (JsonProcessingException e) {
                    throw new IllegalStateException(e);
                }
            }
        };
    }

    private ScoreRecord score(Scorer scorer, List<Path> roots, String id, byte[] value) {
        if (value == null || value.length == 0) return ScoreRecord.error(id, null, "empty request: the record value must be an image path");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(value)).toString().strip();
        } catch (CharacterCodingException e) {
            return ScoreRecord.error(id, null, "the record value is not UTF-8 text (" + value.length + " bytes)");
        }
        if (text.isEmpty()) return ScoreRecord.error(id, text, "empty request: the record value must be an image path");
        Path path;
        try {
            path = Path.of(text);
        } catch (RuntimeException e) {
            return ScoreRecord.error(id, text, text + ": not a valid path");
        }
        if (!path.isAbsolute()) return ScoreRecord.error(id, text, text + ": not an absolute path");
        if (!Files.exists(path)) return ScoreRecord.error(id, text, text + ": no such file");
        Path real;
        try {
            real = path.toRealPath(); // symlinks resolved before the check
        } catch (IOException e) {
            return ScoreRecord.error(id, text, text + ": cannot resolve (" + e.getMessage() + ")");
        }
        if (roots.stream().noneMatch(real::startsWith)) {
            return ScoreRecord.error(id, text, text + ": outside the allowed roots " + allowedRoots);
        }
        ScoreRecord r = scorer.score(id, real);
        return new ScoreRecord(r.requestId(), text, r.prediction(), r.confidence(), r.top(), r.modelStep(), r.modelValAccuracy(), r.error());
    }

    private List<Path> realRoots() {
        List<Path> roots = new ArrayList<>();
        for (String r : allowedRoots) {
            try {
                roots.add(Path.of(r).toRealPath());
            } catch (IOException e) {
                // a root that does not exist on this executor allows nothing
            }
        }
        return roots;
    }

    /** For tests and a clean shutdown: forget the cached services of this JVM. */
    public static void closeAll() {
        MODELS.values().forEach(BestModelService::close);
        MODELS.clear();
    }
}
