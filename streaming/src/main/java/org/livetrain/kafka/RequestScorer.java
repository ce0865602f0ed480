package org.livetrain.kafka;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.livetrain.io.ImageFiles;
import org.livetrain.metrics.Readings;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.Promoter;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.Scorer;
import org.livetrain.serving.ServingStats;
import org.livetrain.serving.ShadowTally;
import org.livetrain.store.CheckpointLocation;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.sql.Timestamp;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Scores the requests of one partition of a micro-batch on an executor: (key, value, topic, partition,
 * offset) in, (request id, JSON record) out. The best-model service is cached per executor JVM and per
 * checkpoint directory; it reloads when best.json changes, so the next micro-batch uses a new best
 * without a restart. No request can fail the stream: every problem becomes an error record, and an answer
 * echoes at most a few KB of its request ({@link ScoreRecord#bounded}), whatever the request's size.
 */
public final class RequestScorer implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The longest record value taken for an image path or URI. */
    public static final int MAX_REQUEST_BYTES = 16 << 10;
    private static final Map<String, BestModelService> MODELS = new ConcurrentHashMap<>();

    private final Broadcast<CheckpointLocation> models;
    private final KafkaScorer.Reading reading;
    private final int batch;
    private final ServingStats stats;

    /**
     * @param batch requests scored together at most: {@link Scorer#BATCH} with micro-batches, 1 in continuous mode
     * @param stats where each answer is counted (requests, errors, latency since the record's timestamp)
     */
    public RequestScorer(Broadcast<CheckpointLocation> models, KafkaScorer.Reading reading, int batch, ServingStats stats) {
        this.models = models;
        this.reading = reading;
        this.batch = batch;
        this.stats = stats;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> requests) {
        return answers(requests, null);
    }

    /**
     * The answers to a partition's requests, scored lazily, up to {@code batch} rows at a time (a
     * continuous-processing partition never ends, so there the batch is 1 and a request is answered as soon as
     * it arrives).
     * @param plan the driver's models for this micro-batch when it decides promotions (shadow); null: the best
     *             model of the directory as this executor sees it at the start of the partition
     */
    Answers answers(Iterator<Row> requests, Promoter.Plan plan) {
        CheckpointLocation location = models.value();
        BestModelService best;
        if (plan == null) {
            best = MODELS.computeIfAbsent(location.uri(), d -> new BestModelService(location.open(), BestModelService.DEFAULT_POLL));
            best.poll(); // a micro-batch sees the best model as of its start
        } else {
            best = MODELS.computeIfAbsent(location.uri() + " (following the driver)", d -> BestModelService.following(location.open()));
            best.follow(plan);
        }
        Scorer scorer = new Scorer(best, ImageFiles.within(reading.allowedRoots(), reading.limits().maxBytes(), location.conf()), reading.limits().maxPixels(),
                () -> "no checkpoint has been published in " + location.uri() + " yet");
        return new Answers(requests, scorer);
    }

    /** A partition's answers, in request order, and how a shadowed candidate answered the same requests. */
    final class Answers implements Iterator<Row> {
        private final Iterator<Row> requests;
        private final Scorer scorer;
        private final ArrayDeque<Row> ready = new ArrayDeque<>();

        Answers(Iterator<Row> requests, Scorer scorer) {
            this.requests = requests;
            this.scorer = scorer;
        }

        @Override
        public boolean hasNext() {
            return !ready.isEmpty() || requests.hasNext();
        }

        @Override
        public Row next() {
            if (ready.isEmpty()) fill();
            return ready.removeFirst();
        }

        /** The scored requests that got an error record: their file or image could not be used, or no model was there yet. */
        private void errorsByKind(List<ScoreRecord> scored) {
            boolean noModel = scorer.models().current().isEmpty();
            for (ScoreRecord r : scored) if (!r.ok()) (noModel ? Readings.Worker.NO_MODEL_ANSWERS : Readings.Worker.UNREADABLE_IMAGES).add(1);
        }

        /** The candidate's answers compared with the serving model's, over the rows read so far. */
        ShadowTally shadowed() {
            return scorer.shadowed();
        }

        private void fill() {
            List<String> ids = new ArrayList<>(batch);
            List<Long> sentMillis = new ArrayList<>(batch);
            ScoreRecord[] records = new ScoreRecord[batch];
            List<Integer> pending = new ArrayList<>(batch);
            List<Scorer.Request> toScore = new ArrayList<>(batch);
            while (ids.size() < batch && requests.hasNext()) {
                Row r = requests.next();
                String id = requestId(r);
                Checked checked = check(id, r.getAs("value"));
                if (checked.refused() != null) {
                    Readings.Worker.REFUSED_REQUESTS.add(1);
                    records[ids.size()] = checked.refused();
                } else {
                    pending.add(ids.size());
                    toScore.add(checked.request());
                }
                ids.add(id);
                Timestamp ts = r.getAs("timestamp");
                sentMillis.add(ts == null ? -1L : ts.getTime());
            }
            long t0 = System.nanoTime();
            List<ScoreRecord> scored = toScore.isEmpty() ? List.of() : scorer.scoreAll(toScore);
            errorsByKind(scored);
            if (!toScore.isEmpty()) {
                double millis = (System.nanoTime() - t0) / 1e6;
                stats.scored(toScore.size(), toScore.size(), millis);
                Readings.Worker.FORWARD_PASSES.add(1);
                Readings.Worker.SCORING_SECONDS.add(millis / 1000);
            }
            Readings.Worker.ANSWERS.add(ids.size());
            for (int k = 0; k < pending.size(); k++) records[pending.get(k)] = scored.get(k);
            long now = System.currentTimeMillis();
            for (int i = 0; i < ids.size(); i++) {
                ScoreRecord rec = records[i];
                stats.record(sentMillis.get(i) < 0 ? 0 : now - sentMillis.get(i), !rec.ok(), rec.modelStep() == null ? -1 : rec.modelStep());
                ready.add(answer(records[i]));
            }
        }
    }

    /** A request's id: the record key, else {@code topic-partition-offset}. Its answer echoes it cut ({@link #answer}), as its key too. */
    static String requestId(Row r) {
        byte[] key = r.getAs("key");
        return key != null ? new String(key, StandardCharsets.UTF_8) : r.getAs("topic") + "-" + r.getAs("partition") + "-" + r.getAs("offset");
    }

    /** The output row of an answer: its request id as the key, its JSON record as the value, each bounded. */
    static Row answer(ScoreRecord record) {
        ScoreRecord bounded = record.bounded();
        try {
            return RowFactory.create(bounded.requestId(), JSON.writeValueAsString(bounded));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A request checked: the request to score (with the real path to read), or the record that refuses it. */
    private record Checked(Scorer.Request request, ScoreRecord refused) {
        static Checked refuse(String id, String text, String why) {
            return new Checked(null, ScoreRecord.error(id, text, why));
        }
    }

    private Checked check(String id, byte[] value) {
        if (value == null || value.length == 0) return Checked.refuse(id, null, "empty request: the record value must be an image path");
        if (value.length > MAX_REQUEST_BYTES) {
            return Checked.refuse(id, null, "a request of " + value.length + " bytes: an image path is at most " + MAX_REQUEST_BYTES + " bytes");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(value)).toString().strip();
        } catch (CharacterCodingException e) {
            return Checked.refuse(id, null, "the record value is not UTF-8 text (" + value.length + " bytes)");
        }
        if (text.isEmpty()) return Checked.refuse(id, text, "empty request: the record value must be an image path");
        try {
            if (ImageFiles.remote(text).isEmpty() && !ImageFiles.local(text).isAbsolute()) return Checked.refuse(id, text, text + ": not an absolute path");
        } catch (RuntimeException e) {
            return Checked.refuse(id, text, text + ": not a valid path or URI");
        }
        return new Checked(new Scorer.Request(id, text, text), null); // the file is opened and checked once, when it is read
    }

    /** For tests and a clean shutdown: forget the cached services of this JVM, and close its answer producers. */
    public static void closeAll() {
        MODELS.values().forEach(BestModelService::close);
        MODELS.clear();
        AnswerSender.closeAll();
    }
}
