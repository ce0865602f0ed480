package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;
import org.livetrain.ml.LiveTrainClassifier;
import org.livetrain.ml.LiveTrainModel;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunStore;
import org.livetrain.store.StoredModel;

import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.regexp_extract;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LiveTrain as a Spark ML estimator and model, in a session the test (the user) created: a Pipeline fitted on a
 * DataFrame of image files, saved, loaded and used to transform; paths and bad rows; a tampered saved model;
 * and the README's Scala and Java examples, run as written in child JVMs.
 */
@Tag("slow")
class SparkMlTest {
    private static final int IMAGES = 1200;

    @TempDir
    Path dir;

    @Test
    void aPipelineIsFittedInTheUsersSessionSavedLoadedAndScoresContentPathsAndBadRows() throws Exception {
        Path digits = dir.resolve("digits"), ckpt = dir.resolve("checkpoints");
        DigitFiles.write(FileSystem.getLocal(new Configuration()).getRaw(), new org.apache.hadoop.fs.Path(digits.toUri()), IMAGES);
        Files.writeString(dir.resolve("broken.png"), "an upload that stopped half way");
        SparkSession spark = SparkSessions.create("spark-ml", 2, Map.of("spark.ui.enabled", "false"));
        try {
            Dataset<Row> images = spark.read().format("binaryFile").option("recursiveFileLookup", "true").load(digits.toString())
                    .withColumn("label", regexp_extract(col("path"), "/([^/]+)/[^/]+$", 1));
            LiveTrainClassifier classifier = new LiveTrainClassifier().setCheckpointDir(ckpt.toString()).setEpochs(2).setEvalEvery(20).setRunName("fitted");
            PipelineModel fitted = new Pipeline().setStages(new PipelineStage[] {classifier}).fit(images);
            assertFalse(spark.sparkContext().isStopped(), "fit leaves the user's session running");

            // an ordinary run of the checkpoint directory, its rows written once under it
            CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
            RunStore run = store.runs().stream().filter(r -> "fitted".equals(r.id())).findFirst().orElseThrow();
            Pointer best = run.best().orElseThrow();
            assertTrue(best.devAccuracy() > 0.6, "learns: dev accuracy " + best.devAccuracy());
            assertTrue(Files.isDirectory(ckpt.resolve("datasets/fitted")), "the DataFrame was written under the checkpoint directory");
            LiveTrainModel model = assertInstanceOf(LiveTrainModel.class, fitted.stages()[0]);
            assertEquals(best.sha256(), model.sha256(), "the model is the run's best checkpoint");

            // saved, loaded, and the same answers as the fitted pipeline's
            String saved = dir.resolve("pipeline").toString();
            fitted.write().overwrite().save(saved);
            Map<String, Row> before = byPath(fitted.transform(images)), after = byPath(PipelineModel.load(saved).transform(images));
            assertEquals(IMAGES, after.size());
            int right = 0;
            for (var e : after.entrySet()) {
                Row a = e.getValue(), b = before.get(e.getKey());
                assertNull(a.getAs("error"), e.getKey());
                assertEquals(b.<String>getAs("prediction"), a.getAs("prediction"), e.getKey());
                assertEquals(b.<Double>getAs("confidence"), a.<Double>getAs("confidence"), 1e-9, e.getKey());
                assertEquals(best.sha256(), a.<Row>getAs("model").getAs("sha256"));
                assertEquals(3, a.getList(a.fieldIndex("top")).size());
                if (a.<String>getAs("label").equals(a.getAs("prediction"))) right++;
            }
            assertTrue(right > 0.6 * IMAGES, right + " of " + IMAGES + " right");

            // paths instead of bytes: the same answers; a broken file and a missing one get their error, nothing fails
            String broken = dir.resolve("broken.png").toString(), missing = dir.resolve("missing.png").toString();
            Dataset<Row> paths = images.select("path").union(spark.createDataFrame(List.of(RowFactory.create(broken), RowFactory.create(missing)), images.select("path").schema()));
            Map<String, Row> byFile = byPath(LiveTrainModel.load(saved + "/stages/0_" + model.uid()).setInputCol("path").transform(paths));
            assertEquals(IMAGES + 2, byFile.size());
            for (var e : before.entrySet()) assertEquals(e.getValue().<String>getAs("prediction"), byFile.get(e.getKey()).getAs("prediction"), e.getKey());
            assertNull(byFile.get(broken).getAs("prediction"));
            assertTrue(byFile.get(broken).<String>getAs("error").startsWith(broken + ": "), byFile.get(broken).toString());
            assertTrue(byFile.get(missing).<String>getAs("error").contains("no such file"), byFile.get(missing).toString());

            // the output columns are never silently overwritten
            LiveTrainException clash = assertThrows(LiveTrainException.class, () -> model.transform(images.withColumn("prediction", col("label"))));
            assertTrue(clash.getMessage().startsWith("predictionCol prediction: the rows already have a column prediction"), clash.getMessage());

            // a saved model is checked as a checkpoint is: one changed byte and it is refused in one line
            String copy = dir.resolve("tampered").toString();
            model.write().save(copy);
            Path zip = Path.of(copy, "model", "model.zip");
            byte[] bytes = Files.readAllBytes(zip);
            bytes[bytes.length / 2] ^= 1;
            Files.write(zip, bytes);
            LiveTrainException refused = assertThrows(LiveTrainException.class, () -> LiveTrainModel.load(copy));
            assertTrue(refused.getMessage().contains("model.zip: checksum mismatch"), refused.getMessage());
            assertEquals(1, refused.getMessage().lines().count());
        } finally {
            spark.stop();
        }
    }

    /** The README's Scala example, as written there, through the Scala compiler of Spark's own version, in a child JVM. */
    @Test
    void theReadmesScalaExampleRuns() throws Exception {
        Path work = example();
        String script = "import org.apache.spark.sql.SparkSession\nval " + SESSION.replace("SparkSession.builder()", "SparkSession.builder") + "\n"
                + readmeBlock("scala") + "\nspark.stop()\n" + EXIT + "\n";
        Files.writeString(work.resolve("example.scala"), script);
        try (ChildJvm jvm = ChildJvm.main(dir.resolve("logs"), "scala-example", work, List.of(), "", "scala.tools.nsc.MainGenericRunner",
                "-usejavacp", "-nc", "example.scala")) {
            assertEquals(0, jvm.waitFor(600), jvm.output());
            String out = Files.readString(jvm.out);
            assertTrue(out.contains("|prediction|") || out.matches("(?s).*\\|\\s*prediction\\s*\\|.*"), out);
            assertSavedBest(work, StoredModel.read(FileSystem.getLocal(new Configuration()), stage(work.resolve("digits-pipeline"))));
        }
    }

    /** The README's Java example, as written there, compiled with the JDK's compiler and run in a child JVM. */
    @Test
    void theReadmesJavaExampleRuns() throws Exception {
        Path work = example();
        Path src = Files.createDirectories(work.resolve("src")), classes = Files.createDirectories(work.resolve("classes"));
        String java = """
                import org.apache.spark.sql.Dataset;
                import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
                import org.apache.spark.sql.SparkSession;
                import org.livetrain.ml.LiveTrainClassifier;
                import org.livetrain.ml.LiveTrainModel;
                import static org.apache.spark.sql.functions.col;
                import static org.apache.spark.sql.functions.regexp_extract;

                public class ReadmeExample {
                    public static void main(String[] args) throws Exception {
                """ + "SparkSession " + SESSION + "\n" + readmeBlock("java") + "\nspark.stop();\n" + EXIT + ";\n}\n}\n";
        Files.writeString(src.resolve("ReadmeExample.java"), java);
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int compiled = ToolProvider.getSystemJavaCompiler().run(null, errors, errors, "-cp", System.getProperty("java.class.path"),
                "-d", classes.toString(), src.resolve("ReadmeExample.java").toString());
        assertEquals(0, compiled, () -> java + "\n" + errors.toString(StandardCharsets.UTF_8));
        try (ChildJvm jvm = ChildJvm.main(dir.resolve("logs"), "java-example", work, List.of(), classes.toString(), "ReadmeExample")) {
            assertEquals(0, jvm.waitFor(600), jvm.output());
            String out = Files.readString(jvm.out);
            assertTrue(out.matches("(?s).*\\|\\s*prediction\\s*\\|\\s*confidence\\s*\\|.*"), out);
            assertSavedBest(work, StoredModel.read(FileSystem.getLocal(new Configuration()), new org.apache.hadoop.fs.Path(work.resolve("digits-model/model").toUri())));
        }
    }

    /**
     * How a local-mode application that ran a barrier stage ends: Spark 3.5 leaves a non-daemon timer thread
     * of its barrier tasks running in the driver JVM (SPARK-46895, fixed in Spark 4.0).
     */
    private static final String EXIT = "System.exit(0)";

    /** A session as a user's spark-shell or application has it: local, on 127.0.0.1, without LiveTrain's settings. */
    private static final String SESSION = "spark = SparkSession.builder().master(\"local[2]\").config(\"spark.ui.enabled\", \"false\")"
            + ".config(\"spark.driver.host\", \"127.0.0.1\").config(\"spark.driver.bindAddress\", \"127.0.0.1\").getOrCreate();";

    /** A working directory with {@code digits/<class>/<file>.png}, as the README's examples expect. */
    private Path example() throws Exception {
        Path work = Files.createDirectories(dir.resolve("work"));
        DigitFiles.write(FileSystem.getLocal(new Configuration()).getRaw(), new org.apache.hadoop.fs.Path(work.resolve("digits").toUri()), IMAGES);
        return work;
    }

    /** The saved model is the best checkpoint of the run the example trained, and it learned. */
    private static void assertSavedBest(Path work, StoredModel saved) {
        CheckpointStore store = CheckpointStore.open(work.resolve("checkpoints").toString(), new Configuration());
        Pointer best = store.best().orElseThrow();
        assertEquals(best.sha256(), saved.pointer().sha256());
        assertTrue(best.devAccuracy() > 0.6, "learns: dev accuracy " + best.devAccuracy());
    }

    private static org.apache.hadoop.fs.Path stage(Path pipeline) throws Exception {
        try (var stages = Files.list(pipeline.resolve("stages"))) {
            return new org.apache.hadoop.fs.Path(stages.findFirst().orElseThrow().resolve("model").toUri());
        }
    }

    /** The code block of {@code language} in the README's section on Spark. */
    static String readmeBlock(String language) throws Exception {
        String readme = Files.readString(Path.of(System.getProperty("livetrain.repo", "..")).resolve("README.md"));
        String section = readme.substring(readme.indexOf("## Scoring in batch and from Spark"));
        Matcher m = Pattern.compile("```" + language + "\n(.*?)```", Pattern.DOTALL).matcher(section);
        assertTrue(m.find(), "the README shows a " + language + " example");
        return m.group(1);
    }

    private static Map<String, Row> byPath(Dataset<Row> scored) {
        Map<String, Row> out = new HashMap<>();
        for (Row r : scored.collectAsList()) {
            String p = r.getAs("path");
            out.put(p.startsWith("file:") ? Path.of(URI.create(p)).toString() : p, r);
        }
        return out;
    }
}
