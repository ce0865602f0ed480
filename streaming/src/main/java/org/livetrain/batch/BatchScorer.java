package org.livetrain.batch;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.ImageFiles;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.LoadedModel;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.Scorer;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.Pointer;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Scores a partition of {@link ScoreInput}'s rows with one checkpoint (pinned by its pointer, so every
 * executor answers with the same model), read once per executor JVM: rows are prepared by the model's input
 * contract and go through the network {@value Scorer#BATCH} at a time. A row that cannot be scored gets its
 * {@code error} and the others go on: a bad file never fails the job. Output columns ({@link #SCHEMA}):
 * <pre>
 * path          string   the input's key: its path, or a table row's file and id
 * prediction    string   the most likely class (null with an error)
 * confidence    double   its probability
 * top           array of struct (label string, p double): the K most likely classes
 * model_run     string   the answering checkpoint's run, step and model.zip sha256
 * model_step    long
 * model_sha256  string
 * error         string   why the row could not be scored, else null
 * </pre>
 */
public final class BatchScorer implements MapPartitionsFunction<Row, Row> {
    public static final StructType SCHEMA = new StructType()
            .add("path", DataTypes.StringType)
            .add("prediction", DataTypes.StringType)
            .add("confidence", DataTypes.DoubleType)
            .add("top", DataTypes.createArrayType(new StructType().add("label", DataTypes.StringType).add("p", DataTypes.DoubleType)))
            .add("model_run", DataTypes.StringType)
            .add("model_step", DataTypes.LongType)
            .add("model_sha256", DataTypes.StringType)
            .add("error", DataTypes.StringType);
    /** Models of this JVM, by the sha256 of their model.zip: read once per executor. */
    private static final Map<String, LoadedModel> MODELS = new ConcurrentHashMap<>();

    private final Broadcast<CheckpointLocation> checkpoints;
    /** The checkpoint, as its pointer's JSON (the pointer travels to the executors as text). */
    private final String pointer;
    private final ImageLimits limits;
    private final int top;

    /** Scores with the checkpoint {@code pointer} names in {@code checkpoints}, answering the {@code top} most likely classes. */
    public BatchScorer(Broadcast<CheckpointLocation> checkpoints, Pointer pointer, ImageLimits limits, int top) {
        this.checkpoints = checkpoints;
        this.pointer = pointer.toJson();
        this.limits = limits;
        this.top = top;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        CheckpointLocation location = checkpoints.value();
        Pointer p = Pointer.fromJson(pointer);
        LoadedModel model = MODELS.computeIfAbsent(p.sha256(), sha -> new LoadedModel(location.open().load(p, false)));
        ImagePreprocessor preprocessor = new ImagePreprocessor(model.input(), limits.maxPixels());
        ImageFiles files = ImageFiles.anywhere(limits.maxBytes(), location.conf());
        return new Iterator<>() {
            private Iterator<Row> ready = List.<Row>of().iterator();

            @Override
            public boolean hasNext() {
                if (!ready.hasNext() && rows.hasNext()) ready = batch(model, preprocessor, files, rows).iterator();
                return ready.hasNext();
            }

            @Override
            public Row next() {
                hasNext();
                return ready.next();
            }
        };
    }

    /** Up to one batch of rows, answered as every serving path answers ({@link Scorer#answer}). */
    private List<Row> batch(LoadedModel model, ImagePreprocessor preprocessor, ImageFiles files, Iterator<Row> rows) {
        List<Scorer.Item> items = new ArrayList<>(Scorer.BATCH);
        while (items.size() < Scorer.BATCH && rows.hasNext()) {
            Row r = rows.next();
            String key = r.getString(0);
            items.add(new Scorer.Item(key, key, () -> prepared(r, key, preprocessor, files)));
        }
        return Scorer.answer(model, items, top).stream().map(s -> row(s.record(), model)).toList();
    }

    /** A row's image as the model's input: Spark's image struct, encoded bytes, or the file its path names (read once). */
    private static float[] prepared(Row r, String key, ImagePreprocessor preprocessor, ImageFiles files) {
        if (!r.isNullAt(3)) {
            Row raw = r.getStruct(3);
            if (raw.anyNull()) throw new LiveTrainException(key + ": no image (a field of the image struct is null)");
            return preprocessor.decoded(preprocessor.raw(raw.getAs(3), raw.getInt(0), raw.getInt(1), raw.getInt(2), key), key);
        }
        if (!r.isNullAt(1)) return preprocessor.bytes(r.getAs(1), key);
        if (!r.isNullAt(2)) return preprocessor.bytes(files.read(key, r.getString(2)), key);
        throw new LiveTrainException(key + ": no image (the image column is null)");
    }

    /** An answer as a row of {@link #SCHEMA}; an error row names the model too, as the one that was asked. */
    private static Row row(ScoreRecord r, LoadedModel model) {
        Object[] top = r.top() == null ? null : r.top().stream().map(c -> RowFactory.create(c.label(), c.p())).toArray();
        return RowFactory.create(r.path(), r.prediction(), r.confidence(), top, model.run(), model.step(), model.sha256(), r.error());
    }
}
