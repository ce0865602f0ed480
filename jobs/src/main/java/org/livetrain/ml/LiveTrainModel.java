package org.livetrain.ml;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;
import org.livetrain.batch.BatchScorer;
import org.livetrain.batch.ImageColumn;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
import org.livetrain.io.HadoopConf;
import org.livetrain.io.ImageFiles;
import org.livetrain.io.Storage;
import org.livetrain.serving.ImageLimits;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;
import org.livetrain.store.StoredModel;
import scala.Option;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * A LiveTrain checkpoint as a Spark ML {@link Model}: {@code transform} appends to each row the model's answer
 * for the image in {@link #inputCol} (encoded bytes, Spark's image struct, or a path or Hadoop URI to read),
 * prepared by the checkpoint's own input contract, as the prompt, the Kafka scorer and {@code score} answer it:
 * <pre>
 * column (param)              type                                   value
 * prediction (predictionCol)  string                                 the most likely class; null when the row has an error
 * confidence (confidenceCol)  double                                 its probability
 * top (topCol)                array of struct (label string, p double)   the topK most likely classes
 * model (modelCol)            struct (run string, step long, sha256 string)  the checkpoint that answered
 * error (errorCol)            string                                 why the image could not be scored (a bad image never fails the job)
 * </pre>
 * The model is {@link StoredModel}'s verified bytes, sent once to each executor and loaded once there.
 * {@link #save} writes them with the params (Spark's metadata, then {@code model/} as {@link StoredModel}
 * lays it out), so a saved model does not depend on the checkpoint directory it came from.
 */
public final class LiveTrainModel extends Model<LiveTrainModel> implements MLWritable {
    private static final String MODEL_DIR = "model";
    private final String uid;
    private final StoredModel stored;
    private transient Broadcast<StoredModel> broadcast;
    private transient SparkContext broadcastBy;

    private final Param<String> inputCol;
    private final Param<String> keyCol;
    private final Param<String> predictionCol;
    private final Param<String> confidenceCol;
    private final Param<String> topCol;
    private final Param<String> modelCol;
    private final Param<String> errorCol;
    private final IntParam topK;
    private final LongParam maxBytes;
    private final LongParam maxPixels;

    public LiveTrainModel(String uid, StoredModel stored) {
        this.uid = uid; // before the params: each names its parent by uid
        inputCol = new Param<>(this, "inputCol", "the image column: binary content, Spark's image struct or a string path"
                + " (default: content, else image, else path)");
        keyCol = new Param<>(this, "keyCol", "the column naming each image in its error (default: the path, else a string path column)");
        predictionCol = new Param<>(this, "predictionCol", "output: the most likely class");
        confidenceCol = new Param<>(this, "confidenceCol", "output: its probability");
        topCol = new Param<>(this, "topCol", "output: the topK most likely classes (label, p)");
        modelCol = new Param<>(this, "modelCol", "output: the checkpoint that answered (run, step, sha256)");
        errorCol = new Param<>(this, "errorCol", "output: why the row could not be scored, else null");
        topK = new IntParam(this, "topK", "the most likely classes in topCol", ParamValidators.gtEq(1));
        maxBytes = new LongParam(this, "maxBytes", "image files larger than this are refused before they are read", ParamValidators.gtEq(1));
        maxPixels = new LongParam(this, "maxPixels", "images with more pixels than this are refused before decoding", ParamValidators.gtEq(1));
        this.stored = stored;
        setDefault(predictionCol, "prediction");
        setDefault(confidenceCol, "confidence");
        setDefault(topCol, "top");
        setDefault(modelCol, "model");
        setDefault(errorCol, "error");
        setDefault(topK, 3);
        setDefault(maxBytes, ImageFiles.DEFAULT_MAX_BYTES);
        setDefault(maxPixels, ImagePreprocessor.DEFAULT_MAX_PIXELS);
    }

    /** The best checkpoint of a checkpoint directory (a local path or any Hadoop URI). */
    public static LiveTrainModel fromCheckpoint(String dir) {
        CheckpointStore store = open(dir);
        return of(store, store.best().orElseThrow(() -> new LiveTrainException(dir + ": no checkpoint yet (it has no best.json)")));
    }

    /** The best checkpoint of run {@code run}. */
    public static LiveTrainModel fromCheckpoint(String dir, String run) {
        CheckpointStore store = open(dir);
        return of(store, run(store, run).best().orElseThrow(() -> new LiveTrainException(dir + ": run " + run + " has no checkpoint yet")));
    }

    /** The checkpoint of run {@code run} at {@code step} (one that retention kept). */
    public static LiveTrainModel fromCheckpoint(String dir, String run, long step) {
        CheckpointStore store = open(dir);
        RunStore r = run(store, run);
        Pointer p = r.checkpoint(step).orElseThrow(() -> new LiveTrainException(dir + ": run " + run + " has no checkpoint at step " + step + " (kept: " + kept(r) + ")"));
        return of(store, p);
    }

    /** A checkpoint of {@code store}, verified and read once, here. */
    public static LiveTrainModel of(CheckpointStore store, Pointer p) {
        return new LiveTrainModel(Identifiable.randomUID("livetrain"), store.stored(p));
    }

    private static List<Long> kept(RunStore r) {
        try {
            return r.steps();
        } catch (IOException e) {
            throw Storage.problem(r.base() + ": cannot list its checkpoints", e);
        }
    }

    private static CheckpointStore open(String dir) {
        return CheckpointStore.open(dir, SparkSession.active().sparkContext().hadoopConfiguration());
    }

    private static RunStore run(CheckpointStore store, String run) {
        return store.runs().stream().filter(r -> run.equals(r.id())).findFirst()
                .orElseThrow(() -> new LiveTrainException(store.location() + ": no run " + run + " (./submit.sh runs lists them)"));
    }

    public static LiveTrainModel load(String path) {
        return read().load(path);
    }

    /** The reader of what {@link #write} saved (also what Spark's PipelineModel.load calls). */
    public static MLReader<LiveTrainModel> read() {
        return new MLReader<>() {
            @Override
            public LiveTrainModel load(String path) {
                DefaultParamsReader.Metadata meta = DefaultParamsReader.loadMetadata(path, sc(), LiveTrainModel.class.getName());
                Path dir = new Path(Storage.path(path), MODEL_DIR);
                LiveTrainModel model = new LiveTrainModel(meta.uid(), StoredModel.read(fs(dir, sc().hadoopConfiguration()), dir));
                meta.getAndSetParams(model, Option.empty());
                return model;
            }
        };
    }

    @Override
    public MLWriter write() {
        return new MLWriter() {
            @Override
            public void saveImpl(String path) {
                DefaultParamsWriter.saveMetadata(LiveTrainModel.this, path, sc(), Option.empty(), Option.empty());
                Path dir = new Path(Storage.path(path), MODEL_DIR);
                try {
                    stored.write(fs(dir, sc().hadoopConfiguration()), dir);
                } catch (IOException e) {
                    throw Storage.problem(dir + ": cannot write the model", e);
                }
            }
        };
    }

    private static FileSystem fs(Path dir, Configuration conf) {
        try {
            return Storage.fs(dir, conf);
        } catch (IOException e) {
            throw Storage.problem(dir + ": cannot open its file system", e);
        }
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType schema = dataset.schema();
        transformSchema(schema);
        ImageColumn image = ImageColumn.of(schema, isDefined(inputCol) ? $(inputCol) : null, "inputCol");
        int key = image.keyIndex(schema, isDefined(keyCol) ? $(keyCol) : null, "keyCol");
        SparkSession spark = dataset.sparkSession();
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        BatchScorer scorer = new BatchScorer(broadcast(spark.sparkContext()), sha256(), jsc.broadcast(new HadoopConf(spark.sparkContext().hadoopConfiguration())),
                image, key, new ImageLimits((Long) $(maxPixels), (Long) $(maxBytes)), (Integer) $(topK));
        return dataset.toDF().mapPartitions(scorer, Encoders.row(transformSchema(schema)));
    }

    /** The model's bytes as one broadcast per Spark context: executors fetch them once, however many transforms. */
    private synchronized Broadcast<StoredModel> broadcast(SparkContext sc) {
        if (broadcast == null || broadcastBy != sc || sc.isStopped()) {
            broadcast = JavaSparkContext.fromSparkContext(sc).broadcast(stored);
            broadcastBy = sc;
        }
        return broadcast;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        StructType out = schema;
        List<Param<String>> outputs = List.of(predictionCol, confidenceCol, topCol, modelCol, errorCol);
        for (int i = 0; i < outputs.size(); i++) {
            String name = $(outputs.get(i));
            if (Arrays.asList(out.fieldNames()).contains(name)) {
                throw new LiveTrainException(outputs.get(i).name() + " " + name + ": the rows already have a column " + name + " (set another name)");
            }
            out = out.add(name, BatchScorer.APPENDED.get(i), true);
        }
        return out;
    }

    @Override
    public LiveTrainModel copy(ParamMap extra) {
        return copyValues(new LiveTrainModel(uid, stored), extra).setParent(parent());
    }

    @Override
    public String uid() {
        return uid;
    }

    // ---- what the model is

    public String run() {
        return stored.pointer().run();
    }

    public long step() {
        return stored.pointer().step();
    }

    /** The sha256 of the checkpoint's model.zip: the model's identity, on every answer. */
    public String sha256() {
        return stored.pointer().sha256();
    }

    public double devAccuracy() {
        return stored.pointer().devAccuracy();
    }

    /** How an image is prepared for this model: shape, channels, profile, normalisation, class names. */
    public InputContract inputContract() {
        return stored.input();
    }

    @Override
    public String toString() {
        return "LiveTrainModel " + uid + ": " + stored.pointer().describe() + ", dev accuracy " + devAccuracy() + ", input " + stored.input().describe();
    }

    // ---- params, as Spark ML names them

    public Param<String> inputCol() {
        return inputCol;
    }

    public Param<String> keyCol() {
        return keyCol;
    }

    public Param<String> predictionCol() {
        return predictionCol;
    }

    public Param<String> confidenceCol() {
        return confidenceCol;
    }

    public Param<String> topCol() {
        return topCol;
    }

    public Param<String> modelCol() {
        return modelCol;
    }

    public Param<String> errorCol() {
        return errorCol;
    }

    public IntParam topK() {
        return topK;
    }

    public LongParam maxBytes() {
        return maxBytes;
    }

    public LongParam maxPixels() {
        return maxPixels;
    }

    public LiveTrainModel setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    public LiveTrainModel setKeyCol(String v) {
        set(keyCol, v);
        return this;
    }

    public LiveTrainModel setPredictionCol(String v) {
        set(predictionCol, v);
        return this;
    }

    public LiveTrainModel setConfidenceCol(String v) {
        set(confidenceCol, v);
        return this;
    }

    public LiveTrainModel setTopCol(String v) {
        set(topCol, v);
        return this;
    }

    public LiveTrainModel setModelCol(String v) {
        set(modelCol, v);
        return this;
    }

    public LiveTrainModel setErrorCol(String v) {
        set(errorCol, v);
        return this;
    }

    public LiveTrainModel setTopK(int v) {
        set(topK, v);
        return this;
    }

    public LiveTrainModel setMaxBytes(long v) {
        set(maxBytes, v);
        return this;
    }

    public LiveTrainModel setMaxPixels(long v) {
        set(maxPixels, v);
        return this;
    }
}
