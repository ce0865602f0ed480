package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --data table:NAME}: a table of the Spark catalog the job's session has, resolved to the files Spark
 * reads for it. Spark's in-memory catalog lives as long as its context, so the table is made in the session
 * the training job then runs in (a cluster's metastore outlives both; the code path is the same).
 */
@Tag("slow")
class TableDataTest {
    @TempDir
    Path dir;

    @Test
    void trainingReadsATableOfTheSparkCatalogAndRefusesAMissingOneInOneLine() throws Exception {
        org.apache.hadoop.fs.Path images = new org.apache.hadoop.fs.Path(dir.resolve("images").toUri());
        DigitFiles.write(FileSystem.getLocal(new Configuration()).getRaw(), images, 1500);
        SparkSession spark = SparkSessions.create("LiveTrain train", 2, Map.of("spark.ui.enabled", "false"));
        try {
            Cli missing = Cli.run("train", "--data", "table:nosuch", "--epochs", "1", "--checkpoint-dir", dir.resolve("none").toString());
            assertEquals(2, missing.exitCode(), () -> missing.out() + missing.err());
            assertTrue(missing.err().strip().startsWith("livetrain train: --data table:nosuch: no such table in the Spark catalog (in-memory)"), missing.err());
            assertEquals(1, missing.err().strip().lines().count(), missing.err());
        } finally {
            spark.stop();
        }
        spark = SparkSessions.create("LiveTrain train", 2, Map.of("spark.ui.enabled", "false"));
        spark.read().format("binaryFile").option("recursiveFileLookup", "true").load(images.toString())
                .withColumn("label", functions.regexp_extract(functions.col("path"), "/(\\d)/[^/]+$", 1))
                .write().option("path", dir.resolve("warehouse/digits").toString()).saveAsTable("digits");
        String ckpt = dir.resolve("ckpt").toString();
        Cli r = Cli.run("train", "--data", "table:digits", "--epochs", "2", "--eval-every", "20", "--checkpoint-dir", ckpt);
        assertFalse(spark.sparkContext().isStopped(), "training in the caller's session leaves it running");
        spark.stop();
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("data check: all 1500 examples can be used"), r.out());
        assertTrue(r.out().contains("split by a hash of each row's path"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt, new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertTrue(best.meta().devAccuracy() > 0.6, "learns: dev accuracy " + best.meta().devAccuracy());
        assertEquals(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), best.input().classes());
        assertEquals("table:digits", best.meta().origin().data());
        assertEquals(1500, store.newestRun().orElseThrow().manifest().orElseThrow().keys().size(), "the run froze the table's rows");
    }

    /**
     * The BytePS workers train from the data check's first pass: a training image is read from storage once
     * (each request to an object store costs), not once to check it and again to train on it.
     */
    @Test
    void aBytePSRunReadsEachTrainingImageOnce() throws Exception {
        Path images = dir.resolve("counted");
        DigitFiles.write(FileSystem.getLocal(new Configuration()).getRaw(), new org.apache.hadoop.fs.Path(images.toUri()), 1200);
        CountingFileSystem.OPENS.clear();
        Cli r = Cli.run("train", "--data", "folder:counting://" + images, "--epochs", "2", "--checkpoint-dir", dir.resolve("counted-ckpt").toString(),
                "--conf", "spark.hadoop.fs.counting.impl=" + CountingFileSystem.class.getName());
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        Map<String, Integer> opens = new TreeMap<>();
        CountingFileSystem.OPENS.forEach((f, n) -> { if (f.startsWith(images.toString())) opens.put(f, n.get()); });
        assertEquals(1200, opens.size(), "every image was read");
        int reads = opens.values().stream().mapToInt(Integer::intValue).sum();
        // each image once by the first pass; dev and test images (a fifth) again to evaluate; up to 500 again on the driver to choose the contract
        // (reading twice, as a check apart from training does, would be 2,400 and more)
        assertTrue(reads <= 1200 + 0.25 * 1200 + 500, reads + " reads of 1200 images: " + opens.values().stream().collect(Collectors.groupingBy(n -> n, Collectors.counting())));
        assertTrue(opens.values().stream().allMatch(n -> n <= 3), "none read more than three times");
    }

    /**
     * {@code score} over a table of Spark's image struct (as the image source writes it: origin, height, width,
     * nChannels, mode, data): each row scored from its pixels, a row without an image answered with an error.
     */
    @Test
    void scoreReadsATableOfSparksImageStruct() throws Exception {
        String ckpt = dir.resolve("struct-ckpt").toString();
        Cli trained = Cli.run("train", "--epochs", "1", "--checkpoint-dir", ckpt);
        assertEquals(0, trained.exitCode(), () -> trained.out() + trained.err());
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = digits.split(7).test();
        List<Row> rows = new ArrayList<>();
        for (Iterator<LabeledImage> it = digits.pool().read(Arrays.copyOf(idx, 300)); it.hasNext(); ) {
            LabeledImage e = it.next();
            byte[] grey = new byte[784];
            for (int p = 0; p < 784; p++) grey[p] = (byte) Math.round(e.pixels()[p] * 255);
            rows.add(RowFactory.create(RowFactory.create("digit-" + e.index() + "-" + e.label(), 28, 28, 1, 0, grey)));
        }
        rows.add(RowFactory.create((Object) null));
        StructType image = new StructType().add("origin", DataTypes.StringType).add("height", DataTypes.IntegerType).add("width", DataTypes.IntegerType)
                .add("nChannels", DataTypes.IntegerType).add("mode", DataTypes.IntegerType).add("data", DataTypes.BinaryType);
        String table = dir.resolve("images.parquet").toString(), out = dir.resolve("struct-scores").toString();
        SparkSession spark = SparkSessions.create("write-images", 2, Map.of("spark.ui.enabled", "false"));
        try {
            spark.createDataFrame(rows, new StructType().add("image", image)).write().parquet(table);
        } finally {
            spark.stop();
        }
        Cli r = Cli.run("score", "--checkpoint-dir", ckpt, "--input", "parquet:" + table, "--output", out, "--format", "json");
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("scored 301 images (1 errors)"), r.out());
        ObjectMapper json = new ObjectMapper();
        int right = 0;
        try (var parts = Files.list(Path.of(out))) {
            for (Path part : parts.filter(f -> f.getFileName().toString().endsWith(".json")).toList()) {
                for (String line : Files.readAllLines(part)) {
                    JsonNode n = json.readTree(line);
                    if (n.get("error").isNull()) {
                        if (n.get("path").asText().endsWith("-" + n.get("prediction").asText())) right++;
                    } else {
                        assertTrue(n.get("error").asText().contains("no image"), line);
                    }
                }
            }
        }
        assertTrue(right > 0.9 * 300, right + " of 300 right");
    }
}
