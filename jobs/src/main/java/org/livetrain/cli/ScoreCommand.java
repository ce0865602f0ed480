package org.livetrain.cli;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.livetrain.LiveTrainException;
import org.livetrain.batch.ScoreInput;
import org.livetrain.io.Storage;
import org.livetrain.ml.LiveTrainModel;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.IOException;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.to_json;

/**
 * {@code livetrain score}: a Spark batch job that scores every image of a folder, a table or a glob with the
 * best checkpoint of a directory (or a run's best), source -> score -> sink: {@link ScoreInput}, then the
 * checkpoint as a {@link LiveTrainModel} (the Spark ML model), then Parquet, JSON or CSV at {@code --output}.
 */
@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Score every image of a folder, a table or a glob of files (any Hadoop URI) with the best model of a checkpoint directory,",
                "in a Spark batch job; one output row per image: path, prediction, confidence, top classes, the model, and an error for images",
                "that could not be scored (a bad file never fails the job)."})
public final class ScoreCommand implements Callable<Integer> {
    private static final Set<String> FORMATS = Set.of("parquet", "json", "csv");
    private static final String OPEN_COST = "spark.sql.files.openCostInBytes";

    @Mixin
    CheckpointDirOption checkpoints;

    @Option(names = "--run", paramLabel = "RUN", description = "Score with this run's best checkpoint instead of the directory's best.")
    String run;

    @Option(names = "--input", required = true, paramLabel = "SPEC",
            description = "folder:URI (every image file below), parquet:URI or table:NAME (a content or path column), or a URI or glob of image files.")
    String input;

    @Option(names = "--image-column", paramLabel = "NAME", description = "parquet: and table: input: the column holding each image's bytes (binary), Spark's image struct, or its path (string). Default: content, else image, else path.")
    String imageColumn;

    @Option(names = "--output", required = true, paramLabel = "URI", description = "Where the rows are written (a folder, as Spark writes).")
    String output;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "parquet", description = "parquet, json or csv (in CSV the top classes are a JSON string).")
    String format;

    @Option(names = "--top", paramLabel = "K", defaultValue = "3", description = "The most likely classes written per image.")
    int top;

    @Option(names = "--overwrite", description = "Replace --output when it exists (without it, an existing output is refused).")
    boolean overwrite;

    @Mixin
    ImageLimitOptions limits;

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain parent;

    @Override
    public Integer call() throws Exception {
        common.apply();
        if (!FORMATS.contains(format)) throw new LiveTrainException("--format " + format + ": use parquet, json or csv");
        if (top < 1) throw new LiveTrainException("--top " + top + ": must be at least 1");
        Map<String, String> conf = new HashMap<>(common.conf());
        if (System.console() != null) conf.putIfAbsent("spark.ui.showConsoleProgress", "true"); // Spark's own bar, as spark-shell shows it
        SparkSession spark = SparkSessions.create("LiveTrain score", Runtime.getRuntime().availableProcessors(), conf);
        // Spark counts each file as 4 MB when it packs files into tasks: 32 images a task, each task a Parquet file
        // of its own; counted at a typical image's size, a task takes thousands (unless --conf says otherwise)
        if (!common.conf().containsKey(OPEN_COST)) spark.conf().set(OPEN_COST, "65536");
        try {
            Configuration hconf = spark.sparkContext().hadoopConfiguration();
            refuseExistingOutput(hconf);
            CheckpointStore store = checkpoints.open(hconf);
            Pointer best = model(store);
            LiveTrainModel model = LiveTrainModel.of(store, best).setInputCol("image").setKeyCol("key").setTopK(top)
                    .setMaxBytes(limits.limits().maxBytes()).setMaxPixels(limits.limits().maxPixels());
            Dataset<Row> images = LiveTrainException.about("--input", () -> ScoreInput.read(spark, input, imageColumn));
            long started = System.nanoTime();
            spark.sparkContext().setJobDescription("LiveTrain: score " + input + " with step " + best.step() + " of run " + best.run());
            Dataset<Row> scored = model.transform(images).select(col("key").as("path"), col("prediction"), col("confidence"), col("top"),
                    col("model.run").as("model_run"), col("model.step").as("model_step"), col("model.sha256").as("model_sha256"), col("error"));
            if (format.equals("csv")) scored = scored.withColumn("top", to_json(col("top")));
            // every column in every row, also in JSON (whose writer drops null fields by default), as the Kafka scorer's records have
            scored.write().mode(overwrite ? SaveMode.Overwrite : SaveMode.ErrorIfExists).option("header", "true").option("ignoreNullFields", "false")
                    .format(format).save(output);
            double seconds = (System.nanoTime() - started) / 1e9;
            Dataset<Row> written = spark.read().schema(scored.schema()).option("header", "true").format(format).load(output);
            Row counted = written.agg(count(lit(1)), count(col("error"))).first(); // one pass over what was written
            long rows = counted.getLong(0), errors = counted.getLong(1);
            parent.out.printf(Locale.ROOT, "scored %d images (%d errors) of %s with step %d of run %s in %.1f s (%.0f images/s) -> %s (%s)%n",
                    rows, errors, input, best.step(), best.run(), seconds, rows / Math.max(seconds, 1e-9), output, format);
            return 0;
        } finally {
            spark.stop();
        }
    }

    /** The checkpoint every executor scores with: the directory's best, or {@code --run}'s best. */
    private Pointer model(CheckpointStore store) {
        if (run == null) {
            return store.best().orElseThrow(() -> new LiveTrainException("--checkpoint-dir " + store.location() + ": no checkpoint yet (it has no best.json)"));
        }
        return store.runs().stream().filter(r -> run.equals(r.id())).findFirst()
                .orElseThrow(() -> new LiveTrainException("--run " + run + ": " + store.location() + " has no such run (./submit.sh runs lists them)"))
                .best().orElseThrow(() -> new LiveTrainException("--run " + run + ": no checkpoint yet"));
    }

    private void refuseExistingOutput(Configuration hconf) {
        Path out = Storage.path(output);
        try {
            if (!overwrite && Storage.fs(out, hconf).exists(out)) {
                throw new LiveTrainException("--output " + output + ": already exists; give --overwrite to replace it (nothing is ever appended)");
            }
        } catch (IOException e) {
            throw Storage.problem("--output " + output + ": cannot check it", e);
        }
    }
}
