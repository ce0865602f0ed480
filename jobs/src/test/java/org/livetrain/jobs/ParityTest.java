package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.ml.LiveTrainModel;
import org.livetrain.data.FolderPool;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.image.InputContract;
import org.livetrain.image.Profile;
import org.livetrain.kafka.KafkaScorer;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.kafka.RequestScorer;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.FILLED;
import static org.bytedeco.opencv.global.opencv_imgproc.circle;
import static org.bytedeco.opencv.global.opencv_imgproc.rectangle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the model sees is part of the model: the test split of a data set, exported as files (PNG, and
 * JPEG at quality 90), is answered through the terminal reader, the Kafka scorer, the batch score job and the
 * Spark ML model as the trainer's own test evaluation answered it (every PNG file of 28x28 data, and at least
 * 99% of the JPEG files), and the four serving paths give the same predictions and confidences.
 */
@Tag("slow")
class ParityTest {
    @TempDir
    static Path dir;
    static LocalKafkaBroker broker;

    @BeforeAll
    static void setUp() throws Exception {
        broker = SharedBroker.get();
    }

    @AfterAll
    static void tearDown() {
        RequestScorer.closeAll();
    }

    @Test
    void digits() throws Exception {
        parity("digits", 1, 1, "--epochs", "1");
    }

    @Test
    void fashion() throws Exception {
        assumeTrue(Files.isDirectory(Path.of(Dataset.FASHION_DIR)),
                "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; .ci/run installs it): fashion parity skipped");
        parity("fashion", 5, 1, "--epochs", "1", "--eval-every", "200");
    }

    /** A folder of colour images made here: three shapes in three colours on varied backgrounds. */
    @Test
    void colourFolder() throws Exception {
        Path folder = dir.resolve("shapes");
        Random rnd = new Random(7);
        String[] names = {"circle", "square", "bar"};
        for (int k = 0; k < names.length; k++) {
            Path d = Files.createDirectories(folder.resolve(names[k]));
            for (int i = 0; i < 200; i++) imwrite(d.resolve(i + ".png").toString(), shape(k, rnd));
        }
        InputContract contract = parity("folder:" + folder, 1, 0, "--epochs", "4", "--eval-every", "20");
        assertEquals(Profile.RGB, contract.profile(), "colour images are prepared in colour");
        assertEquals(3, contract.channels());
        assertEquals(3, contract.mean().length, "normalised per channel from the training images");
    }

    static Mat shape(int kind, Random rnd) {
        int side = 36 + rnd.nextInt(30);
        Mat m = new Mat(side, side, CV_8UC3, new Scalar(150 + rnd.nextInt(100), 150 + rnd.nextInt(100), 150 + rnd.nextInt(100), 0));
        Scalar colour = switch (kind) {
            case 0 -> new Scalar(40, 40, 200, 0); // red (OpenCV's order is blue, green, red)
            case 1 -> new Scalar(40, 170, 40, 0);
            default -> new Scalar(190, 60, 30, 0);
        };
        int c = side / 2 + rnd.nextInt(7) - 3, r = side / 4 + rnd.nextInt(side / 8);
        switch (kind) {
            case 0 -> circle(m, new Point(c, c), r, colour, FILLED, 8, 0);
            case 1 -> rectangle(m, new Point(c - r, c - r), new Point(c + r, c + r), colour, FILLED, 8, 0);
            default -> rectangle(m, new Point(c - r, c - r / 3), new Point(c + r, c + r / 3), colour, FILLED, 8, 0);
        }
        return m;
    }

    /**
     * Trains on {@code data}, exports every {@code stride}-th example of the test split as PNG and JPEG files,
     * and compares the trainer's own predictions with those of the prompt (--json) and of the Kafka scorer.
     *
     * @param pngMismatches how many PNG answers may differ (0 for 28x28 data, whose PNG files hold exactly
     *                      the training pixels)
     */
    static InputContract parity(String data, int stride, int pngMismatches, String... trainArgs) throws Exception {
        String name = data.replaceAll("\\W", "-");
        Path ckpt = dir.resolve("ckpt-" + name), files = Files.createDirectories(dir.resolve("files-" + name));
        List<String> args = new ArrayList<>(List.of("train", "--data", data, "--checkpoint-dir", ckpt.toString()));
        args.addAll(List.of(trainArgs));
        Cli trained = Cli.run(args.toArray(String[]::new));
        assertEquals(0, trained.exitCode(), () -> trained.out() + trained.err());

        CheckpointStore store = CheckpointStore.open(ckpt.toString(), new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        Dataset dataset = Dataset.open(data, new Configuration()).prepared(null, 0);
        assertEquals(best.input().profile(), dataset.contract().profile());
        int[] all = dataset.split(Split.DEFAULT_SEED).test(), test = new int[(all.length + stride - 1) / stride];
        for (int i = 0; i < test.length; i++) test[i] = all[i * stride];
        Arrays.sort(test);

        // the trainer's own answers: the test examples as training reads them, through the network
        Map<String, String> expected = new LinkedHashMap<>();
        List<LabeledImage> examples = new ArrayList<>();
        dataset.testSource().read(test).forEachRemaining(examples::add);
        INDArray out = best.network().output(Batches.input(examples.stream().map(LabeledImage::pixels).toList()));
        for (int i = 0; i < examples.size(); i++) {
            LabeledImage e = examples.get(i);
            String answer = best.input().classes().get(out.getRow(i).argMax().getInt(0));
            for (String ext : List.of("png", "jpg")) {
                Path f = files.resolve(ext).resolve(e.index() + "." + ext);
                Files.createDirectories(f.getParent());
                export(dataset, e, f);
                expected.put(f.toString(), answer);
            }
        }
        Map<String, Answer> prompt = viaPrompt(ckpt, files), kafka = viaKafka(ckpt, files, name, expected.keySet()), score = viaScore(ckpt, files, name),
                model = viaModel(ckpt, name, expected.keySet());
        for (String f : expected.keySet()) { // the four serving paths give the same answer, to the confidence
            for (Map<String, Answer> other : List.of(kafka, score, model)) {
                assertEquals(prompt.get(f).prediction(), other.get(f).prediction(), f);
                assertEquals(prompt.get(f).confidence(), other.get(f).confidence(), 1e-6, f);
            }
        }
        for (var served : List.of(Map.entry("prompt", prompt), Map.entry("Kafka scorer", kafka), Map.entry("score job", score),
                Map.entry("Spark ML model", model))) {
            for (String ext : List.of("png", "jpg")) {
                int n = 0, same = 0;
                List<String> differ = new ArrayList<>();
                for (var e : expected.entrySet()) {
                    if (!e.getKey().endsWith("." + ext)) continue;
                    n++;
                    String answer = served.getValue().get(e.getKey()).prediction();
                    if (e.getValue().equals(answer)) same++;
                    else differ.add(e.getKey() + ": trainer " + e.getValue() + ", served " + answer);
                }
                System.out.printf("[parity] %s %s through the %s: %d of %d answers as the trainer's%n", data, ext, served.getKey(), same, n);
                if (ext.equals("png")) assertTrue(n - same <= pngMismatches, data + " PNG through the " + served.getKey() + ": " + differ);
                else assertTrue(same >= 0.99 * n, data + " JPEG through the " + served.getKey() + ": " + same + " of " + n + " " + differ);
            }
        }
        return best.input();
    }

    /** The example as a file: IDX pixels as an 8-bit grey image, a folder's file decoded and encoded again. */
    static void export(Dataset dataset, LabeledImage e, Path file) {
        Mat m;
        if (dataset.spec().startsWith("folder:")) {
            m = imread(Path.of(URI.create(((FolderPool) dataset.pool()).location(e.index()))).toString(), IMREAD_UNCHANGED);
        } else {
            int rows = dataset.shape().height(), cols = dataset.shape().width();
            m = new Mat(rows, cols, CV_8UC1);
            try (UByteIndexer ix = m.createIndexer()) {
                for (int p = 0; p < rows * cols; p++) ix.put(p / cols, p % cols, Math.round(e.pixels()[p] * 255));
            }
        }
        boolean ok = file.toString().endsWith(".jpg") ? imwrite(file.toString(), m, new IntPointer(IMWRITE_JPEG_QUALITY, 90)) : imwrite(file.toString(), m);
        assertTrue(ok, "wrote " + file);
    }

    /** A served answer. */
    record Answer(String prediction, double confidence) {
        static Answer of(JsonNode n) {
            assertTrue(n.get("error").isNull(), n.toString());
            return new Answer(n.get("prediction").asText(), n.get("confidence").asDouble());
        }
    }

    /** Every file of both folders typed at the prompt in --json mode: path to answer. */
    static Map<String, Answer> viaPrompt(Path ckpt, Path files) throws Exception {
        Cli r = Cli.withInput(files.resolve("png") + "\n" + files.resolve("jpg") + "\nq\n", "terminal", "--json", "--checkpoint-dir", ckpt.toString());
        assertEquals(0, r.exitCode(), r.err());
        ObjectMapper json = new ObjectMapper();
        Map<String, Answer> out = new HashMap<>();
        for (String line : r.out().lines().filter(l -> l.startsWith("{")).toList()) {
            JsonNode n = json.readTree(line);
            out.put(n.get("path").asText(), Answer.of(n));
        }
        return out;
    }

    /** Both folders scored by the batch job ({@code score}, JSON lines out): path to answer. */
    static Map<String, Answer> viaScore(Path ckpt, Path files, String name) throws Exception {
        Path output = dir.resolve("scored-" + name);
        Cli r = Cli.run("score", "--checkpoint-dir", ckpt.toString(), "--input", "folder:" + files, "--output", output.toString(), "--format", "json");
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        ObjectMapper json = new ObjectMapper();
        Map<String, Answer> out = new HashMap<>();
        try (var parts = Files.list(output)) {
            for (Path part : parts.filter(f -> f.getFileName().toString().endsWith(".json")).toList()) {
                for (String line : Files.readAllLines(part)) {
                    JsonNode n = json.readTree(line);
                    out.put(URI.create(n.get("path").asText()).getPath(), Answer.of(n));
                }
            }
        }
        return out;
    }

    /**
     * Every file's path in a DataFrame, answered by the Spark ML model of the best checkpoint, saved and loaded
     * again (a path column: each executor reads its files): path to answer.
     */
    static Map<String, Answer> viaModel(Path ckpt, String name, Collection<String> paths) throws Exception {
        SparkSession spark = SparkSessions.create("parity-model-" + name, 2, Map.of("spark.ui.enabled", "false"));
        try {
            String saved = dir.resolve("model-" + name).toString();
            LiveTrainModel.fromCheckpoint(ckpt.toString()).write().overwrite().save(saved);
            Map<String, Answer> out = new HashMap<>();
            LiveTrainModel model = LiveTrainModel.load(saved).setInputCol("path");
            for (Row r : model.transform(spark.createDataset(List.copyOf(paths), Encoders.STRING()).toDF("path")).collectAsList()) {
                assertNull(r.getAs("error"), r.toString());
                out.put(r.getAs("path"), new Answer(r.getAs("prediction"), r.getAs("confidence")));
            }
            assertEquals(paths.size(), out.size(), "every path answered");
            return out;
        } finally {
            spark.stop();
        }
    }

    /** Every file's path pushed to a topic and answered by the Structured Streaming scorer: path to prediction. */
    static Map<String, Answer> viaKafka(Path ckpt, Path files, String name, Collection<String> paths) throws Exception {
        SparkSession spark = SparkSessions.create("parity-" + name, 2, Map.of("spark.ui.enabled", "false"));
        String in = "paths-" + name, outTopic = "answers-" + name;
        StreamingQuery q = KafkaScorer.start(spark, Scorers.settings(broker.bootstrapServers(), in, outTopic, ckpt.toString(), dir.resolve("query-" + name).toString(), "0 seconds", files));
        Map<String, Answer> out = new HashMap<>();
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers()), new StringSerializer(), new StringSerializer());
             KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", "parity-" + name,
                     "auto.offset.reset", "earliest"), new StringDeserializer(), new StringDeserializer())) {
            for (String path : paths) p.send(new ProducerRecord<>(in, path, path));
            p.flush();
            c.subscribe(List.of(outTopic));
            ObjectMapper json = new ObjectMapper();
            long end = System.nanoTime() + Duration.ofSeconds(300).toNanos();
            while (out.size() < paths.size() && System.nanoTime() < end) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                    out.put(r.key(), Answer.of(json.readTree(r.value())));
                }
            }
        } finally {
            q.stop();
            spark.stop();
        }
        assertEquals(paths.size(), out.size(), "every path answered");
        return out;
    }
}
