package org.livetrain.batch;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.io.HadoopConf;
import org.livetrain.io.ImageFiles;
import org.livetrain.model.NativeKernels;
import org.livetrain.model.NativeMemory;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.LoadedModel;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.Scorer;
import org.livetrain.store.StoredModel;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Scores a partition's rows with one model (verified bytes, broadcast: every executor answers with the same
 * model), loaded once per executor JVM: each row's image ({@link ImageColumn}) is prepared by the model's
 * input contract and goes through the network {@value Scorer#BATCH} at a time. A row that cannot be scored
 * gets its error and the others go on: a bad file never fails the job. Each row comes out with five columns
 * appended ({@link #APPENDED}):
 * <pre>
 * prediction  string   the most likely class (null with an error)
 * confidence  double   its probability
 * top         array of struct (label string, p double): the K most likely classes
 * model       struct (run string, step long, sha256 string): the answering checkpoint; also on an error row
 * error       string   why the row could not be scored, else null
 * </pre>
 */
public final class BatchScorer implements MapPartitionsFunction<Row, Row> {
    public static final DataType TOP = DataTypes.createArrayType(new StructType().add("label", DataTypes.StringType).add("p", DataTypes.DoubleType));
    public static final StructType MODEL = new StructType().add("run", DataTypes.StringType).add("step", DataTypes.LongType).add("sha256", DataTypes.StringType);
    public static final List<DataType> APPENDED = List.of(DataTypes.StringType, DataTypes.DoubleType, TOP, MODEL, DataTypes.StringType);
    /** Models of this JVM, by the sha256 of their model.zip: read once per executor. */
    private static final Map<String, LoadedModel> MODELS = new ConcurrentHashMap<>();

    private final Broadcast<StoredModel> stored;
    private final String sha256;
    private final Broadcast<HadoopConf> conf;
    private final ImageColumn image;
    private final int key;
    private final ImageLimits limits;
    private final int top;

    /**
     * Scores {@code image} with the model {@code stored} holds, answering the {@code top} most likely classes;
     * column {@code key} (-1: none) names a row in its error; paths are read through {@code conf}.
     */
    public BatchScorer(Broadcast<StoredModel> stored, String sha256, Broadcast<HadoopConf> conf, ImageColumn image, int key, ImageLimits limits, int top) {
        this.stored = stored;
        this.sha256 = sha256;
        this.conf = conf;
        this.image = image;
        this.key = key;
        this.limits = limits;
        this.top = top;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        LoadedModel model = model();
        ImagePreprocessor preprocessor = new ImagePreprocessor(model.input(), limits.maxPixels());
        ImageFiles files = ImageFiles.anywhere(limits.maxBytes(), conf.value().get());
        Row answerer = RowFactory.create(model.run(), model.step(), model.sha256());
        return new Iterator<>() {
            private Iterator<Row> ready = List.<Row>of().iterator();

            @Override
            public boolean hasNext() {
                if (!ready.hasNext() && rows.hasNext()) ready = batch(model, answerer, preprocessor, files, rows).iterator();
                return ready.hasNext();
            }

            @Override
            public Row next() {
                hasNext();
                return ready.next();
            }
        };
    }

    /** This JVM's copy of the model: native kernels on (as LiveTrain's plugin does, also in a session LiveTrain did not create), read once. */
    private LoadedModel model() {
        LoadedModel m = MODELS.get(sha256);
        if (m != null) return m;
        NativeKernels.enable();
        NativeMemory.guard();
        return MODELS.computeIfAbsent(sha256, sha -> new LoadedModel(stored.value()));
    }

    /** Up to one batch of rows, answered as every serving path answers ({@link Scorer#answer}). */
    private List<Row> batch(LoadedModel model, Row answerer, ImagePreprocessor preprocessor, ImageFiles files, Iterator<Row> rows) {
        List<Row> in = new ArrayList<>(Scorer.BATCH);
        List<Scorer.Item> items = new ArrayList<>(Scorer.BATCH);
        while (items.size() < Scorer.BATCH && rows.hasNext()) {
            Row r = rows.next();
            String name = name(r, in.size());
            in.add(r);
            items.add(new Scorer.Item(name, name, () -> prepared(r, name, preprocessor, files)));
        }
        List<Scorer.Scored> scored = Scorer.answer(model, items, top);
        List<Row> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) out.add(row(in.get(i), scored.get(i).record(), answerer));
        return out;
    }

    /** What names a row in its error: its key column, its image's origin, else its place in the batch. */
    private String name(Row r, int i) {
        if (key >= 0 && !r.isNullAt(key)) return String.valueOf(r.get(key));
        if (image.kind() == ImageColumn.Kind.IMAGE && !r.isNullAt(image.index())) {
            Row s = r.getStruct(image.index());
            int origin = s.schema() == null ? -1 : List.of(s.schema().fieldNames()).indexOf("origin");
            if (origin >= 0 && !s.isNullAt(origin)) return s.getString(origin);
        }
        return "row " + i + " of its batch";
    }

    /** A row's image as the model's input: Spark's image struct, encoded bytes, or the file its path names (read once). */
    private float[] prepared(Row r, String name, ImagePreprocessor preprocessor, ImageFiles files) {
        int c = image.index();
        if (r.isNullAt(c)) throw new LiveTrainException(name + ": no image (column " + image.name() + " is null)");
        return switch (image.kind()) {
            case CONTENT -> preprocessor.bytes(r.getAs(c), name);
            case PATH -> preprocessor.bytes(files.read(name, r.getString(c)), name);
            case IMAGE -> {
                Row raw = r.getStruct(c);
                int[] f = image.structFields();
                for (int i : f) if (raw.isNullAt(i)) throw new LiveTrainException(name + ": no image (a field of the image struct is null)");
                yield preprocessor.decoded(preprocessor.raw(raw.getAs(f[3]), raw.getInt(f[0]), raw.getInt(f[1]), raw.getInt(f[2]), name), name);
            }
        };
    }

    /** The input row with the answer's five columns appended. */
    private static Row row(Row in, ScoreRecord r, Row answerer) {
        Object[] values = new Object[in.length() + APPENDED.size()];
        for (int i = 0; i < in.length(); i++) values[i] = in.get(i);
        int n = in.length();
        values[n] = r.prediction();
        values[n + 1] = r.confidence();
        values[n + 2] = r.top() == null ? null : r.top().stream().map(c -> RowFactory.create(c.label(), c.p())).toArray();
        values[n + 3] = answerer;
        values[n + 4] = r.error();
        return RowFactory.create(values);
    }
}
