package org.livetrain.ml;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;
import org.livetrain.batch.ImageColumn;
import org.livetrain.cli.LiveTrain;
import org.livetrain.data.ParquetPool;
import org.livetrain.io.Storage;
import org.livetrain.jobs.TrainingJob;
import org.livetrain.jobs.training.Progress;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.TrainerKind;
import org.livetrain.ps.Compression;
import org.livetrain.store.CheckpointStore;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import static org.apache.spark.sql.functions.col;

/**
 * LiveTrain's training job as a Spark ML {@link Estimator}: {@code fit(df)} trains a network with the BytePS
 * trainer on the DataFrame's images ({@link #inputCol}: binary content, Spark's image struct, or paths) and
 * labels ({@link #labelCol}: text or integer), in the caller's Spark session, and returns the
 * {@link LiveTrainModel} of the run's best checkpoint. The run is an ordinary run of {@link #checkpointDir}:
 * {@code ./submit.sh terminal} and {@code stream} serve its best model while {@code fit} runs, {@code runs}
 * lists it. The DataFrame is written once, as Parquet, to {@code DIR/datasets/RUN/} (image, label, and
 * {@code path} and {@code split} when it has them), so every worker and every retried attempt reads the same
 * rows; a resumed run ({@code ./submit.sh train --resume RUN}) reads them from there too. Params and their
 * defaults are those of {@code ./submit.sh train} (conf/livetrain.properties).
 */
public final class LiveTrainClassifier extends Estimator<LiveTrainModel> implements DefaultParamsWritable {
    private final String uid;

    private final Param<String> checkpointDir;
    private final Param<String> inputCol;
    private final Param<String> labelCol;
    private final Param<String> runName;
    private final Param<String> modelName;
    private final Param<String> inputProfile;
    private final IntParam channels;
    private final IntParam workers;
    private final IntParam epochs;
    private final IntParam batch;
    private final DoubleParam learningRate;
    private final LongParam seed;
    private final IntParam evalEvery;
    private final IntParam keep;
    private final DoubleParam badDataLimit;
    private final BooleanParam augment;

    public LiveTrainClassifier() {
        this(Identifiable.randomUID("livetrainClassifier"));
    }

    public LiveTrainClassifier(String uid) {
        this.uid = uid; // before the params: each names its parent by uid
        checkpointDir = new Param<>(this, "checkpointDir", "the checkpoint directory of the run (a local path or any Hadoop URI)");
        inputCol = new Param<>(this, "inputCol", "the image column: binary content, Spark's image struct or a string path"
                + " (default: content, else image, else path)");
        labelCol = new Param<>(this, "labelCol", "the class column, text or integer");
        runName = new Param<>(this, "runName", "the run's name (default: its start time, as train names runs)");
        modelName = new Param<>(this, "modelName", "the network: lenet, mlp or resnet");
        inputProfile = new Param<>(this, "inputProfile", "how an image becomes an input: digit, object or rgb (default: the data's own choice)");
        channels = new IntParam(this, "channels", "1 (grey) or 3 (colour); 0: colour when the images are", ParamValidators.inArray(new int[] {0, 1, 3}));
        workers = new IntParam(this, "workers", "worker tasks of the barrier stage", ParamValidators.gtEq(1));
        epochs = new IntParam(this, "epochs", "passes over the training split", ParamValidators.gtEq(1));
        batch = new IntParam(this, "batch", "mini-batch size per worker", ParamValidators.gtEq(1));
        learningRate = new DoubleParam(this, "learningRate", "Adam's learning rate", ParamValidators.gt(0));
        seed = new LongParam(this, "seed", "seed of the split, the shuffling and the initial weights");
        evalEvery = new IntParam(this, "evalEvery", "steps between two evaluations on the dev split (each may publish a checkpoint)", ParamValidators.gtEq(1));
        keep = new IntParam(this, "keep", "checkpoints kept besides the best", ParamValidators.gtEq(1));
        badDataLimit = new DoubleParam(this, "badDataLimit", "the share of unreadable images left out before the run refuses the data",
                ParamValidators.inRange(0, 1));
        augment = new BooleanParam(this, "augment", "random changes of the training images that fit their profile");
        Properties d = LiveTrain.defaults(); // ./submit.sh train's
        setDefault(labelCol, "label");
        setDefault(modelName, d.getProperty("model"));
        setDefault(channels, 0);
        setDefault(workers, Integer.parseInt(d.getProperty("workers")));
        setDefault(epochs, Integer.parseInt(d.getProperty("epochs")));
        setDefault(batch, Integer.parseInt(d.getProperty("batch")));
        setDefault(learningRate, Double.parseDouble(d.getProperty("learning-rate")));
        setDefault(seed, Long.parseLong(d.getProperty("seed")));
        setDefault(evalEvery, Integer.parseInt(d.getProperty("eval-every")));
        setDefault(keep, Integer.parseInt(d.getProperty("keep")));
        setDefault(badDataLimit, Double.parseDouble(d.getProperty("bad-data-limit")));
        setDefault(augment, false);
    }

    /**
     * Writes the rows once under the checkpoint directory, trains a run on them in this session, and returns the
     * run's best checkpoint as a model (with this estimator's inputCol).
     */
    @Override
    public LiveTrainModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        if (!isDefined(checkpointDir)) throw new LiveTrainException("checkpointDir: not set (setCheckpointDir: a local path or any Hadoop URI)");
        String dir = $(checkpointDir);
        ImageColumn image = ImageColumn.of(dataset.schema(), isDefined(inputCol) ? $(inputCol) : null, "inputCol");
        String run = isDefined(runName) ? $(runName) : CheckpointStore.timeId(Instant.now());
        TrainingJob.RunRequest request = new TrainingJob.RunRequest(null, run, false, false, Set.of());
        TrainingJob.validate(request);
        String rows = materialise(dataset, image, dir, run);
        TrainConfig config = new TrainConfig(
                new TrainConfig.Data("parquet:" + rows, isDefined(inputProfile) ? $(inputProfile) : null, (Integer) $(channels), (Double) $(badDataLimit),
                        new ParquetPool.Columns(image.name(), $(labelCol))),
                new TrainConfig.Model($(modelName), null, null, 0),
                new TrainConfig.Schedule((Integer) $(workers), (Integer) $(epochs), (Integer) $(batch), (Double) $(learningRate), (Long) $(seed)),
                TrainerKind.BYTEPS, new TrainConfig.BytePS((Integer) $(evalEvery), 0, Integer.parseInt(LiveTrain.defaults().getProperty("partition-bytes")),
                        Compression.NONE, false, (Boolean) $(augment)),
                1, new TrainConfig.Output(dir, (Integer) $(keep)), Map.of());
        PrintStream out = System.out;
        TrainingJob.Result result = TrainingJob.run(config, request, new Progress(line -> {
            out.println(line);
            out.flush();
        }));
        CheckpointStore store = CheckpointStore.open(dir, dataset.sparkSession().sparkContext().hadoopConfiguration());
        LiveTrainModel model = LiveTrainModel.of(store, result.best());
        if (isDefined(inputCol)) model.setInputCol($(inputCol));
        return model.setParent(this);
    }

    /** The rows to train on, written as Parquet to {@code DIR/datasets/RUN} (refused when it exists); its URI. */
    private String materialise(Dataset<?> dataset, ImageColumn image, String dir, String run) {
        Path rows = new Path(new Path(Storage.path(dir), "datasets"), run);
        try {
            FileSystem fs = Storage.fs(rows, dataset.sparkSession().sparkContext().hadoopConfiguration());
            if (fs.exists(rows)) throw new LiveTrainException(rows + ": already exists (a run of that name was fitted; set another runName)");
        } catch (IOException e) {
            throw Storage.problem(rows + ": cannot check it", e);
        }
        List<String> names = Arrays.asList(dataset.schema().fieldNames());
        List<Column> kept = new ArrayList<>(List.of(col(image.name()), col($(labelCol))));
        for (String extra : List.of("path", "split")) {
            if (!extra.equals(image.name()) && names.contains(extra) && dataset.schema().apply(extra).dataType().equals(DataTypes.StringType)) kept.add(col(extra));
        }
        dataset.sparkSession().sparkContext().setJobDescription("LiveTrain: write the rows of run " + run + " to " + rows);
        try {
            dataset.toDF().select(kept.toArray(Column[]::new)).write().mode(SaveMode.ErrorIfExists).parquet(rows.toString());
        } finally {
            dataset.sparkSession().sparkContext().setJobDescription(null);
        }
        return rows.toString();
    }

    /** Checks the label column; the image column is checked by {@link ImageColumn}. Training adds no column. */
    @Override
    public StructType transformSchema(StructType schema) {
        String label = $(labelCol);
        if (!Arrays.asList(schema.fieldNames()).contains(label)) throw new LiveTrainException("labelCol: no column " + label);
        DataType t = schema.apply(label).dataType();
        if (!List.of(DataTypes.StringType, DataTypes.IntegerType, DataTypes.LongType).contains(t)) {
            throw new LiveTrainException("labelCol " + label + ": is " + t.simpleString() + ", not text or an integer");
        }
        ImageColumn.of(schema, isDefined(inputCol) ? $(inputCol) : null, "inputCol");
        return schema;
    }

    @Override
    public LiveTrainClassifier copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    @Override
    public String uid() {
        return uid;
    }

    /** The reader of what {@code write().save(path)} saved (also what Spark's Pipeline.load calls). */
    public static MLReader<LiveTrainClassifier> read() {
        return new DefaultParamsReader<>();
    }

    public static LiveTrainClassifier load(String path) {
        return read().load(path);
    }

    // ---- params, as Spark ML names them

    public Param<String> checkpointDir() {
        return checkpointDir;
    }

    public Param<String> inputCol() {
        return inputCol;
    }

    public Param<String> labelCol() {
        return labelCol;
    }

    public Param<String> runName() {
        return runName;
    }

    public Param<String> modelName() {
        return modelName;
    }

    public Param<String> inputProfile() {
        return inputProfile;
    }

    public IntParam channels() {
        return channels;
    }

    public IntParam workers() {
        return workers;
    }

    public IntParam epochs() {
        return epochs;
    }

    public IntParam batch() {
        return batch;
    }

    public DoubleParam learningRate() {
        return learningRate;
    }

    public LongParam seed() {
        return seed;
    }

    public IntParam evalEvery() {
        return evalEvery;
    }

    public IntParam keep() {
        return keep;
    }

    public DoubleParam badDataLimit() {
        return badDataLimit;
    }

    public BooleanParam augment() {
        return augment;
    }

    public LiveTrainClassifier setCheckpointDir(String v) {
        set(checkpointDir, v);
        return this;
    }

    public LiveTrainClassifier setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    public LiveTrainClassifier setLabelCol(String v) {
        set(labelCol, v);
        return this;
    }

    public LiveTrainClassifier setRunName(String v) {
        set(runName, v);
        return this;
    }

    public LiveTrainClassifier setModelName(String v) {
        set(modelName, v);
        return this;
    }

    public LiveTrainClassifier setInputProfile(String v) {
        set(inputProfile, v);
        return this;
    }

    public LiveTrainClassifier setChannels(int v) {
        set(channels, v);
        return this;
    }

    public LiveTrainClassifier setWorkers(int v) {
        set(workers, v);
        return this;
    }

    public LiveTrainClassifier setEpochs(int v) {
        set(epochs, v);
        return this;
    }

    public LiveTrainClassifier setBatch(int v) {
        set(batch, v);
        return this;
    }

    public LiveTrainClassifier setLearningRate(double v) {
        set(learningRate, v);
        return this;
    }

    public LiveTrainClassifier setSeed(long v) {
        set(seed, v);
        return this;
    }

    public LiveTrainClassifier setEvalEvery(int v) {
        set(evalEvery, v);
        return this;
    }

    public LiveTrainClassifier setKeep(int v) {
        set(keep, v);
        return this;
    }

    public LiveTrainClassifier setBadDataLimit(double v) {
        set(badDataLimit, v);
        return this;
    }

    public LiveTrainClassifier setAugment(boolean v) {
        set(augment, v);
        return this;
    }
}
