package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.cli.LiveTrain;
import org.livetrain.ml.LiveTrainModel;
import org.livetrain.kafka.KafkaScorer;
import org.livetrain.serving.ServingStats;
import org.livetrain.serving.ImageLimits;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.kafka.RequestScorer;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunInfo;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shared storage on a real distributed file system: an in-process HDFS (NameNode and DataNode on
 * 127.0.0.1). Training publishes its checkpoints to an hdfs:// directory; the terminal reader and the
 * Kafka scorer load the best model from it and pick up a better one while they run.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Tag("slow")
class HdfsStorageTest {
    @TempDir
    static Path dir;
    static MiniDFSCluster hdfs;
    static String ckpt;
    static final Path SEVEN = Path.of(System.getProperty("livetrain.repo", "..")).resolve("data/demo/seven.png").toAbsolutePath();

    @BeforeAll
    static void start() throws Exception {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dir.resolve("hdfs").toString());
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        hdfs = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        hdfs.waitActive();
        ckpt = "hdfs://127.0.0.1:" + hdfs.getNameNodePort() + "/livetrain/run-1";
    }

    @AfterAll
    static void stop() {
        if (hdfs != null) hdfs.shutdown();
    }

    static CheckpointStore store() {
        return CheckpointStore.open(ckpt, new Configuration());
    }

    /** Publishes the current best network again as a better checkpoint, {@code steps} later. */
    static long publishBetter(long steps) {
        CheckpointStore writer = CheckpointStore.create(ckpt, new Configuration());
        Checkpoint best = writer.load(writer.best().orElseThrow(), true);
        CheckpointMeta m = best.meta();
        long step = m.step() + steps;
        writer.newestRun().orElseThrow().publish(best.network(), best.input(), CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(step, m.epoch(),
                Math.min(1.0, m.devAccuracy() + 0.001), m.evaluation().devLoss(), m.evaluation().trainLoss()), m.origin(), m.timing(), m.stats()));
        return step;
    }

    @Test
    @Order(1)
    void trainingPublishesItsCheckpointsToHdfs() throws Exception {
        Cli r = Cli.run("train", "--epochs", "1", "--eval-every", "30", "--checkpoint-dir", ckpt);
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("checkpoints in " + ckpt + "/runs/"), r.out());
        List<Long> steps = store().newestRun().orElseThrow().history().stream().map(h -> h.step()).toList();
        assertEquals(List.of(30L, 60L, 63L), steps);
        Checkpoint best = store().load(store().best().orElseThrow(), false);
        assertTrue(best.meta().devAccuracy() > 0.9, "dev accuracy " + best.meta().devAccuracy());

        Cli report = Cli.run("report", "--checkpoint-dir", ckpt, "--out", dir.resolve("report").toString());
        assertEquals(0, report.exitCode(), report.err());
        assertTrue(Files.readString(dir.resolve("report/index.html")).contains("3 evaluation(s)"), "the report reads the history on HDFS");
    }

    @Test
    @Order(2)
    void theTerminalReaderLoadsFromHdfsAndPicksUpABetterModel() throws Exception {
        long first = store().best().orElseThrow().step();
        PipedOutputStream typed = new PipedOutputStream();
        PipedInputStream stdin = new PipedInputStream(typed);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream outStream = new PrintStream(out, true, StandardCharsets.UTF_8);
        Thread reader = new Thread(() -> LiveTrain.execute(new String[]{"terminal", "--checkpoint-dir", ckpt, "--poll", "1"}, stdin, outStream,
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
        reader.start();
        try {
            typed.write((SEVEN + "\n").getBytes(StandardCharsets.UTF_8));
            typed.flush();
            awaitOutput(out, "Prediction: 7", "model step " + first + ",");
            long better = publishBetter(1000);
            awaitOutput(out, "new best model: step " + better);
            typed.write((SEVEN + "\n").getBytes(StandardCharsets.UTF_8));
            typed.flush();
            awaitOutput(out, "model step " + better + ",");
            typed.write("q\n".getBytes(StandardCharsets.UTF_8));
            typed.flush();
            reader.join(Duration.ofSeconds(30).toMillis());
            assertTrue(!reader.isAlive(), "q quits");
        } finally {
            typed.close();
        }
    }

    static void awaitOutput(ByteArrayOutputStream out, String... all) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < end) {
            String s = out.toString(StandardCharsets.UTF_8);
            if (Arrays.stream(all).allMatch(s::contains)) return;
            Thread.sleep(50);
        }
        throw new AssertionError("no " + List.of(all) + " in:\n" + out.toString(StandardCharsets.UTF_8));
    }

    @Test
    @Order(3)
    void theKafkaScorerLoadsFromHdfsKeepsItsOffsetsThereAndPicksUpABetterModel() throws Exception {
        LocalKafkaBroker broker = SharedBroker.get();
        SparkSession spark = SparkSessions.create("hdfs-scorer", 2, Map.of("spark.ui.enabled", "false"));
        String query = ckpt + "/scorer-query";
        StreamingQuery q = KafkaScorer.start(spark, Scorers.settings(broker.bootstrapServers(), "hdfs-in", "hdfs-out", ckpt, query, "0 seconds",
                SEVEN.getParent()));
        ObjectMapper json = new ObjectMapper();
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()), new StringSerializer(), new StringSerializer());
             KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "hdfs",
                     "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of("hdfs-out"));
            long now = store().best().orElseThrow().step();
            p.send(new ProducerRecord<>("hdfs-in", "one", SEVEN.toString()));
            p.flush();
            JsonNode a = await(c, json, "one");
            assertEquals("7", a.get("prediction").asText(), a.toString());
            assertEquals(now, a.get("model_step").asLong());

            long better = publishBetter(1000);
            Thread.sleep(2500);
            p.send(new ProducerRecord<>("hdfs-in", "two", SEVEN.toString()));
            p.flush();
            assertEquals(better, await(c, json, "two").get("model_step").asLong(), "the next micro-batch used the better model");
            assertTrue(new org.apache.hadoop.fs.Path(query).getFileSystem(new Configuration()).exists(new org.apache.hadoop.fs.Path(query, "offsets")),
                    "the query's offsets live on HDFS");
        } finally {
            q.stop();
            RequestScorer.closeAll();
            spark.stop();
        }
    }

    /**
     * The NameNode goes away under a running `stream` command: the query fails once it cannot write its
     * offsets, and the command starts it again from its checkpoint when HDFS is back; the request pushed
     * during the outage is answered.
     */
    @Test
    @Order(4)
    void theStreamCommandRestartsItsQueryAfterAnHdfsOutage() throws Exception {
        LocalKafkaBroker broker = SharedBroker.get();
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
        Thread stream = new Thread(() -> LiveTrain.execute(new String[]{"stream", "--bootstrap-servers", broker.bootstrapServers(),
                "--input-topic", "in-outage", "--output-topic", "out-outage", "--checkpoint-dir", ckpt,
                "--query-checkpoint", ckpt + "/outage-query", "--allowed-roots", SEVEN.getParent().toString(),
                // fail fast instead of the HDFS client's default ten connection attempts
                "--conf", "spark.hadoop.ipc.client.connect.max.retries=1", "--conf", "spark.hadoop.ipc.client.connect.retry.interval=200"},
                new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8), errStream));
        stream.start();
        ObjectMapper json = new ObjectMapper();
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()), new StringSerializer(), new StringSerializer());
             KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "outage",
                     "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of("out-outage"));
            p.send(new ProducerRecord<>("in-outage", "before", SEVEN.toString()));
            p.flush();
            assertTrue(await(c, json, "before").get("error").isNull());

            hdfs.shutdownNameNode(0);
            p.send(new ProducerRecord<>("in-outage", "during", SEVEN.toString()));
            p.flush();
            awaitOutput(err, "the scorer query failed");
            hdfs.restartNameNode(0, true);
            JsonNode during = await(c, json, "during");
            assertTrue(during.get("error").isNull(), during.toString());
            awaitOutput(err, "the scorer query is running again");
        } catch (Throwable t) {
            throw new AssertionError(t + "\nthe stream command said:\n" + out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8), t);
        } finally {
            stream.interrupt(); // as Ctrl-C would: the command stops its query and Spark
            stream.join(Duration.ofSeconds(60).toMillis());
            System.out.println("[hdfs outage] stream said: " + out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8));
        }
        assertTrue(!stream.isAlive(), "the stream command ends when interrupted");
    }

    /**
     * The checkpoint directory runs out of its HDFS disk-space quota while a run trains: no retry can fix
     * that, so the run ends at the next publication, at once, with one line naming the directory and the
     * quota, exit code 2, and without a second attempt of the training stage.
     */
    @Test
    @Order(5)
    void aQuotaExceededMidRunEndsTheRunAtOnceWithoutARetry() throws Exception {
        String quota = "hdfs://127.0.0.1:" + hdfs.getNameNodePort() + "/livetrain/quota";
        Cli r = FailFast.trainThenDamage(quota, () -> {
            try {
                org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path("/livetrain/quota");
                var dfs = hdfs.getFileSystem();
                dfs.setQuota(path, HdfsConstants.QUOTA_DONT_SET, dfs.getContentSummary(path).getSpaceConsumed() + (1 << 20));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertTrue(r.err().contains("livetrain train: " + quota + ": cannot ") && r.err().contains("quota"), r.err());
    }

    /**
     * Training data as a folder of PNG files on HDFS ({@code folder:hdfs://...}): listed by the driver, read by
     * the executors; one file that is not an image is named and left out before the split; the split is by
     * the hash of each file's path and said; the trained model answers the demo seven at the prompt.
     */
    @Test
    @Order(6)
    void trainingReadsAnImageFolderOnHdfs() throws Exception {
        String base = "hdfs://127.0.0.1:" + hdfs.getNameNodePort() + "/images";
        org.apache.hadoop.fs.Path digits = new org.apache.hadoop.fs.Path(base + "/digits");
        int n = DigitFiles.writeWithABrokenOne(digits, 3000, "4/broken.png");
        String folderCkpt = base + "/checkpoints";
        Cli r = Cli.run("train", "--data", "folder:" + digits, "--epochs", "2", "--eval-every", "30", "--checkpoint-dir", folderCkpt);
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("data check: 1 of " + (n + 1) + " examples cannot be used and are left out: " + digits + "/4/broken.png"), r.out());
        assertTrue(r.out().contains("split by a hash of each file's path"), r.out());
        RunInfo info = CheckpointStore.open(folderCkpt, new Configuration()).newestRun().orElseThrow().info().orElseThrow();
        assertTrue(String.valueOf(info.settings().get("split")).startsWith("by a hash"), info.settings().toString());
        assertEquals(1, ((Map<?, ?>) info.settings().get("data_check")).get("left_out"), info.settings().toString());

        Cli prompt = Cli.withInput(SEVEN + "\nq\n", "terminal", "--checkpoint-dir", folderCkpt);
        assertEquals(0, prompt.exitCode(), prompt.err());
        assertTrue(prompt.out().contains("Prediction: 7"), prompt.out());
    }

    /** A table as Spark users make one: the binaryFile source over a folder of images, a label column from the path, Parquet (snappy) on HDFS. */
    @Test
    @Order(7)
    void trainingReadsAParquetTableOnHdfs() throws Exception {
        String base = "hdfs://127.0.0.1:" + hdfs.getNameNodePort() + "/tables";
        org.apache.hadoop.fs.Path images = new org.apache.hadoop.fs.Path(base + "/images");
        int n = DigitFiles.writeWithABrokenOne(images, 2000, "3/broken.png");
        FileSystem fs = FileSystem.newInstance(images.toUri(), DigitFiles.quickClose());
        String table = base + "/digits.parquet";
        SparkSession spark = SparkSessions.create("write-table", 2, Map.of("spark.ui.enabled", "false"));
        try {
            spark.read().format("binaryFile").option("recursiveFileLookup", "true").load(images.toString())
                    .withColumn("label", functions.regexp_extract(functions.col("path"), "/(\\d)/[^/]+$", 1))
                    .write().parquet(table);
        } finally {
            spark.stop();
        }
        assertTrue(Arrays.stream(fs.listStatus(new org.apache.hadoop.fs.Path(table))).anyMatch(st -> st.getPath().getName().endsWith(".snappy.parquet")),
                "Spark's default codec");
        String tableCkpt = base + "/checkpoints";
        Cli r = Cli.run("train", "--data", "parquet:" + table, "--epochs", "2", "--eval-every", "30", "--checkpoint-dir", tableCkpt);
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("data check: 1 of " + (n + 1) + " examples cannot be used and are left out: " + images + "/3/broken.png"), r.out());
        assertTrue(r.out().contains("split by a hash of each row's path"), r.out());
        Checkpoint best = CheckpointStore.open(tableCkpt, new Configuration()).load(CheckpointStore.open(tableCkpt, new Configuration()).best().orElseThrow(), false);
        assertTrue(best.meta().devAccuracy() > 0.7, "learns: dev accuracy " + best.meta().devAccuracy());
        assertEquals(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), best.input().classes());

        Cli prompt = Cli.withInput(SEVEN + "\nq\n", "terminal", "--checkpoint-dir", tableCkpt);
        assertEquals(0, prompt.exitCode(), prompt.err());
        assertTrue(prompt.out().contains("Prediction: 7"), prompt.out());
    }

    /**
     * Images where Spark users keep them, at the prompt and on Kafka: an {@code hdfs://} URI and a {@code file:}
     * URI are answered like a local path; with {@code --allowed-roots hdfs://.../demo} a URI outside the root, one
     * climbing out with {@code ..}, and a missing one inside get the same answer.
     */
    @Test
    @Order(8)
    void thePromptAndTheKafkaScorerAnswerHdfsUrisAndKeepToUriRoots() throws Exception {
        String nn = "hdfs://127.0.0.1:" + hdfs.getNameNodePort();
        try (FileSystem fs = FileSystem.newInstance(new java.net.URI(nn), new Configuration())) {
            fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(SEVEN.toUri()), new org.apache.hadoop.fs.Path(nn + "/demo/seven.png"));
            fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(SEVEN.toUri()), new org.apache.hadoop.fs.Path(nn + "/other/seven.png"));
        }
        String inside = nn + "/demo/seven.png", outside = nn + "/other/seven.png", climbing = nn + "/demo/../other/seven.png", missing = nn + "/demo/nine.png";
        Cli anywhere = Cli.withInput(inside + "\nfile:" + SEVEN + "\n" + nn + "/demo\nq\n", "terminal", "--checkpoint-dir", ckpt);
        assertEquals(0, anywhere.exitCode(), anywhere.err());
        assertEquals(3, anywhere.out().split("Prediction: 7", -1).length - 1, "the URI, the file: URI and the folder's one image: " + anywhere.out());

        Cli confined = Cli.withInput(String.join("\n", inside, outside, climbing, missing, "q") + "\n", "terminal", "--checkpoint-dir", ckpt,
                "--allowed-roots", nn + "/demo", "--json");
        assertEquals(0, confined.exitCode(), confined.err());
        List<JsonNode> answers = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : confined.out().strip().split("\n")) answers.add(json.readTree(line));
        assertEquals("7", answers.get(0).get("prediction").asText(), confined.out());
        for (int i = 1; i < 4; i++) {
            String shown = answers.get(i).get("path").asText();
            assertEquals(shown + ": no such file in the allowed roots", answers.get(i).get("error").asText(), "outside, climbing out and missing answer alike");
        }

        LocalKafkaBroker broker = SharedBroker.get();
        SparkSession spark = SparkSessions.create("hdfs-uris", 2, Map.of("spark.ui.enabled", "false"));
        KafkaScorer.Settings base = Scorers.settings(broker.bootstrapServers(), "uri-in", "uri-out", ckpt, ckpt + "/uri-query", "0 seconds", SEVEN.getParent());
        KafkaScorer.Settings settings = new KafkaScorer.Settings(base.topics(), base.models(), base.query(),
                new KafkaScorer.Reading(List.of(SEVEN.getParent().toString(), nn + "/demo"), ImageLimits.DEFAULT));
        StreamingQuery q = KafkaScorer.start(spark, settings, new ServingStats(), KafkaScorer.Hook.NONE, null);
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()), new StringSerializer(), new StringSerializer());
             KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "uris",
                     "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of("uri-out"));
            Map<String, String> requests = Map.of("hdfs", inside, "file", "file:" + SEVEN, "outside", outside, "climbing", climbing, "missing", missing);
            requests.forEach((k, v) -> p.send(new ProducerRecord<>("uri-in", k, v)));
            p.flush();
            Map<String, JsonNode> got = new HashMap<>();
            long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (got.size() < requests.size() && System.nanoTime() < end) {
                for (var r : c.poll(Duration.ofMillis(200))) got.put(r.key(), json.readTree(r.value()));
            }
            assertEquals("7", got.get("hdfs").get("prediction").asText(), got.toString());
            assertEquals("7", got.get("file").get("prediction").asText(), got.toString());
            for (String k : List.of("outside", "climbing", "missing")) {
                assertEquals(requests.get(k) + ": no such file in the allowed roots", got.get(k).get("error").asText());
            }
        } finally {
            q.stop();
            RequestScorer.closeAll();
            spark.stop();
        }
    }

    /**
     * {@code score}: the digits folder on HDFS (with its broken file) scored in a Spark batch job into Parquet on
     * HDFS, one row per file, the broken one with its error; a glob into CSV; an existing output refused in one line.
     */
    @Test
    @Order(9)
    void scoreWritesParquetFromAFolderOnHdfsWithBadFilesInTheErrorColumn() throws Exception {
        String base = "hdfs://127.0.0.1:" + hdfs.getNameNodePort() + "/images";
        String out = base + "/scored";
        Cli r = Cli.run("score", "--checkpoint-dir", base + "/checkpoints", "--input", "folder:" + base + "/digits", "--output", out);
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("scored 3001 images (1 errors) of folder:" + base + "/digits"), r.out());
        SparkSession spark = SparkSessions.create("read-scores", 2, Map.of("spark.ui.enabled", "false"));
        try {
            List<Row> rows = spark.read().parquet(out).collectAsList();
            assertEquals(3001, rows.size());
            Row broken = rows.stream().filter(x -> x.getString(0).endsWith("/4/broken.png")).findFirst().orElseThrow();
            assertTrue(broken.isNullAt(1) && broken.getString(7).contains("not an image"), broken.toString());
            long right = rows.stream().filter(x -> !x.isNullAt(1) && x.getString(0).matches(".*/" + x.getString(1) + "/[^/]+\\.png")).count();
            assertTrue(right > 0.8 * 3000, right + " of 3000 predictions match the folder's label");
            assertEquals(3, rows.get(0).getList(3).size(), "the top 3 classes");

            // the Spark ML model: saved to HDFS, loaded from there, reading the same files by their hdfs:// paths
            LiveTrainModel.fromCheckpoint(base + "/checkpoints").write().save(base + "/model");
            Map<String, Row> byModel = new HashMap<>();
            for (Row m : LiveTrainModel.load(base + "/model").setInputCol("path").transform(spark.read().parquet(out).select("path")).collectAsList()) {
                byModel.put(m.getString(0), m);
            }
            assertEquals(3001, byModel.size());
            for (Row x : rows) {
                Row m = byModel.get(x.getString(0));
                assertEquals(x.isNullAt(1) ? null : x.getString(1), m.getAs("prediction"), x.getString(0));
                if (!x.isNullAt(1)) assertEquals(x.getDouble(2), m.<Double>getAs("confidence"), 1e-9, x.getString(0));
            }
            assertTrue(byModel.values().stream().filter(m -> m.getAs("error") != null).allMatch(m -> m.getString(0).endsWith("/4/broken.png")));
        } finally {
            spark.stop();
        }
        Cli again = Cli.run("score", "--checkpoint-dir", base + "/checkpoints", "--input", "folder:" + base + "/digits", "--output", out);
        assertEquals(2, again.exitCode(), again.err());
        assertEquals("livetrain score: --output " + out + ": already exists; give --overwrite to replace it (nothing is ever appended)", again.err().strip());

        Path csv = dir.resolve("sevens-csv");
        Cli glob = Cli.run("score", "--checkpoint-dir", base + "/checkpoints", "--input", base + "/digits/7/*.png", "--output", csv.toString(), "--format", "csv", "--top", "2");
        assertEquals(0, glob.exitCode(), () -> glob.out() + glob.err());
        List<String> lines = new ArrayList<>();
        try (var files = Files.list(csv)) {
            for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".csv")).toList()) lines.addAll(Files.readAllLines(f).subList(1, Files.readAllLines(f).size()));
        }
        assertTrue(lines.size() > 250, lines.size() + " sevens");
        assertTrue(lines.stream().filter(l -> l.contains(",7,")).count() > 0.8 * lines.size(), "mostly sevens");
        assertTrue(lines.get(0).contains("label") && lines.get(0).contains("[{"), "the top classes as a JSON string: " + lines.get(0));
    }

    static JsonNode await(KafkaConsumer<String, String> c, ObjectMapper json, String key) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (System.nanoTime() < end) {
            for (var r : c.poll(Duration.ofMillis(200))) if (r.key().equals(key)) return json.readTree(r.value());
        }
        throw new AssertionError("no answer for " + key);
    }
}
