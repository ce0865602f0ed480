import com.sun.management.OperatingSystemMXBean;
import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Split;
import org.livetrain.kafka.Delivery;
import org.livetrain.kafka.KafkaScorer;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.model.Network;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.ServingStats;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.CheckpointStore;
import org.livetrain.serving.Promotion;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.CheckpointLocation;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;

/**
 * The Kafka scorer under load, in one JVM: a KRaft broker on 127.0.0.1, the scorer's Structured
 * Streaming query in local[2], a producer and a consumer. Requests are the paths of 1,000 test-split
 * digits written as PNG files, cycled. Latency runs from handing a record to the producer to the
 * consumer receiving its answer (matched by request id).
 *
 *   burst CKPT WORK TRIGGER N RATE SECONDS   warm-up, N paths at once, then RATE paths/s for SECONDS
 *   serve CKPT WORK TRIGGER RATE SECONDS     warm-up, then RATE paths/s for SECONDS (beside a training run)
 *   soak BOOTSTRAP WORK IN OUT RATE COUNT [BURST]   no broker or scorer of its own: COUNT paths at RATE/s to a
 *                                            running `submit.sh stream`, with latency per minute; then BURST paths at once
 *   images WORK                              only writes the 1,000 PNG files and prints their paths
 * With -Dphotos=true the requests are 100 synthetic 640x480 colour JPEG photos instead of the digits; with
 * -Ddelivery=at-least-once|exactly-once the scorer's delivery (default: exactly-once with micro-batches). With
 * -Dpromotion=shadow a candidate (the served network with one weight moved by 1e-4, published into a copy of
 * CKPT after the warm-up) is shadowed for the rest of the run (its window never closes): every request is scored
 * twice. Each paced phase also reports the CPU this JVM (scorer, broker and load together) spent per answer.
 */
public class KafkaScorerBench {
    static final int IMAGES = 1000;

    public static void main(String[] a) throws Exception {
        String mode = a[0];
        if (mode.equals("images")) {
            requests(Path.of(a[1])).forEach(System.out::println);
            return;
        }
        if (mode.equals("soak")) {
            List<String> paths = requests(Files.createDirectories(Path.of(a[2])));
            Load load = new Load(a[1], paths, a[3], a[4]);
            try {
                int rate = Integer.parseInt(a[5]);
                load.paced("soak", rate, Integer.parseInt(a[6]));
                load.perMinute(0, load.next);
                if (a.length > 7) load.burst(Integer.parseInt(a[7]));
            } finally {
                load.close();
            }
            return;
        }
        String ckpt = a[1];
        Path work = Files.createDirectories(Path.of(a[2]));
        String trigger = a[3];
        List<String> paths = requests(work);
        Path kafkaDir = Files.createTempDirectory(work, "kafka");
        Promotion promotion = System.getProperty("promotion", "immediate").equals("shadow")
                ? new Promotion(Promotion.Mode.SHADOW, Long.MAX_VALUE, Duration.ofDays(1), Promotion.DEFAULT_AGREEMENT, Promotion.DEFAULT_COLLAPSE) : Promotion.IMMEDIATE;
        if (promotion.shadow()) ckpt = copy(Path.of(ckpt), Files.createTempDirectory(work, "ckpt-shadow")).toString();
        try (LocalKafkaBroker broker = new LocalKafkaBroker(0, kafkaDir)) {
            SparkSession spark = SparkSessions.create("scorer-bench", 2, Map.of("spark.ui.enabled", "false"));
            BestModelService promotions = promotion.shadow() ? BestModelService.shadowing(CheckpointStore.open(ckpt, new Configuration()), BestModelService.DEFAULT_POLL, promotion) : null;
            StreamingQuery q = KafkaScorer.start(spark, new KafkaScorer.Settings(
                    new KafkaScorer.Topics(broker.bootstrapServers(), "in", "out", Map.of()), new CheckpointLocation(ckpt, new Configuration()),
                    new KafkaScorer.Query(Files.createTempDirectory(work, "query").toString(), trigger, KafkaScorer.DEFAULT_MAX_OFFSETS_PER_TRIGGER,
                            Delivery.parse(System.getProperty("delivery", trigger.equals("continuous") ? "at-least-once" : "exactly-once")), promotion),
                    new KafkaScorer.Reading(List.of(work.toString()), ImageLimits.DEFAULT)), new ServingStats(), KafkaScorer.Hook.NONE, promotions);
            Load load = new Load(broker.bootstrapServers(), paths, "in", "out");
            try {
                if (mode.equals("burst")) {
                    int n = Integer.parseInt(a[4]);
                    load.paced("warm-up", 500, 2000); // JIT, model load, first micro-batches
                    if (promotions != null) shadowed(promotions, ckpt, load);
                    load.burst(n);
                    load.paced("paced", Integer.parseInt(a[5]), Integer.parseInt(a[6]) * Integer.parseInt(a[5]));
                } else {
                    load.paced("warm-up", 500, 2000);
                    if (promotions != null) shadowed(promotions, ckpt, load);
                    load.paced("serve", Integer.parseInt(a[4]), Integer.parseInt(a[5]) * Integer.parseInt(a[4]));
                }
            } finally {
                load.close();
                batches(q);
                q.stop();
                spark.stop();
            }
        }
    }

    /** A copy of a checkpoint directory's files. */
    static Path copy(Path from, Path to) throws Exception {
        try (var files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path t = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(t);
                else Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return to;
    }

    /** Publishes a candidate (the best network, one weight moved by 1e-4) and waits until the scorer's answers carry it. */
    static void shadowed(BestModelService promotions, String ckpt, Load load) throws Exception {
        CheckpointStore store = CheckpointStore.open(ckpt, new Configuration());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        Network candidate = best.network().copy();
        candidate.params().putScalar(0, candidate.params().getDouble(0) + 1e-4);
        store.newRun(null, Map.of("trainer", "bench", "data", "digits", "model", "candidate"), null, 3, null).publish(candidate, best.input(),
                CheckpointMeta.evaluation(new CheckpointMeta.Evaluation(best.pointer().step() + 1, 1, Math.min(1, best.pointer().devAccuracy() + 1e-3), 0.1, 0.1),
                        new CheckpointMeta.Origin("bench", 1, "digits", "candidate", null), new CheckpointMeta.Timing(1, 1), Map.of()));
        long end = System.nanoTime() + Duration.ofMinutes(1).toNanos();
        while (promotions.candidate().isEmpty() && System.nanoTime() < end) Thread.sleep(100);
        if (promotions.candidate().isEmpty()) throw new IllegalStateException("the scorer did not take up the candidate");
        load.paced("warm-up with a candidate", 500, 1000);
        System.out.println("shadowing: " + promotions.promotionStatus().orElse(""));
    }

    /** What the query's last micro-batches (up to 100: the end of the last phase) took, on average, per stage Spark reports. */
    static void batches(StreamingQuery q) {
        var recent = q.recentProgress();
        Map<String, Double> mean = new java.util.TreeMap<>();
        long rows = 0;
        for (var p : recent) {
            rows += p.numInputRows();
            p.durationMs().forEach((k, v) -> mean.merge(k, v / (double) recent.length, Double::sum));
        }
        StringBuilder b = new StringBuilder();
        mean.forEach((k, v) -> b.append(String.format(" %s %.1f", k, v)));
        System.out.printf("batches: last %d, %.1f requests each; mean ms:%s%n", recent.length, rows / (double) Math.max(1, recent.length), b);
    }

    /** The requests' files: the digits, or with -Dphotos=true the photos. */
    static List<String> requests(Path work) throws Exception {
        return Boolean.getBoolean("photos") ? photos(work.resolve("photos")) : images(work.resolve("images"));
    }

    /**
     * PHOTOS synthetic 640x480 colour JPEG files (written once) with what makes a photo cost what it costs to
     * decode: smooth shading, edges and sensor-like noise (about 175 KB each at OpenCV's default quality 95).
     */
    static List<String> photos(Path dir) throws Exception {
        Files.createDirectories(dir);
        List<String> out = new ArrayList<>();
        Random rnd = new Random(29);
        for (int i = 0; i < PHOTOS; i++) {
            Path f = dir.resolve("photo-" + i + ".jpg");
            out.add(f.toAbsolutePath().toString());
            if (Files.exists(f)) continue;
            Mat m = new Mat(480, 640, CV_8UC3);
            double cx = rnd.nextDouble() * 640, cy = rnd.nextDouble() * 480, r = 60 + rnd.nextDouble() * 120;
            try (UByteIndexer ix = m.createIndexer()) {
                for (int y = 0; y < 480; y++) {
                    for (int x = 0; x < 640; x++) {
                        boolean inside = Math.hypot(x - cx, y - cy) < r;
                        for (int c = 0; c < 3; c++) {
                            double shade = 128 + 90 * Math.sin((x * (c + 1) + y * (3 - c) + i * 37) / 97.0) + (inside ? 60 : 0);
                            ix.put(y, x, c, (int) Math.max(0, Math.min(255, shade + rnd.nextGaussian() * 12)));
                        }
                    }
                }
            }
            imwrite(f.toString(), m);
        }
        return out;
    }

    static final int PHOTOS = 100;

    /** The first IMAGES test-split digits as 28x28 PNG files (written once). */
    static List<String> images(Path dir) throws Exception {
        Files.createDirectories(dir);
        List<String> out = new ArrayList<>();
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] test = Arrays.copyOf(digits.split(Split.DEFAULT_SEED).test(), IMAGES);
        int i = 0;
        for (var it = digits.pool().read(test); it.hasNext(); i++) {
            LabeledImage e = it.next();
            Path f = dir.resolve("digit-" + i + ".png");
            out.add(f.toAbsolutePath().toString());
            if (Files.exists(f)) continue;
            Mat m = new Mat(28, 28, CV_8UC1);
            try (UByteIndexer ix = m.createIndexer()) {
                for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(e.pixels()[p] * 255));
            }
            imwrite(f.toString(), m);
        }
        return out;
    }

    static final class Load implements AutoCloseable {
        final KafkaProducer<String, String> producer;
        final List<String> paths;
        final Map<String, Long> sent = new ConcurrentHashMap<>();
        final Map<String, Long> answered = new ConcurrentHashMap<>();
        final AtomicBoolean stop = new AtomicBoolean();
        final Thread consumer;
        final String in;
        long next;

        Load(String bootstrap, List<String> paths, String in, String out) {
            this.paths = paths;
            this.in = in;
            producer = new KafkaProducer<>(Map.of("bootstrap.servers", bootstrap, "linger.ms", "1"), new StringSerializer(), new StringSerializer());
            consumer = new Thread(() -> {
                try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of("bootstrap.servers", bootstrap, "group.id", "bench",
                        "auto.offset.reset", "earliest", "isolation.level", "read_committed"), new StringDeserializer(), new StringDeserializer())) {
                    c.subscribe(List.of(out));
                    while (!stop.get()) {
                        c.poll(Duration.ofMillis(20)).forEach(r -> {
                            if (!r.value().contains("\"error\":null")) throw new IllegalStateException("error record: " + r.value());
                            answered.putIfAbsent(r.key(), System.nanoTime());
                        });
                    }
                }
            }, "bench-consumer");
            consumer.start();
        }

        void send() {
            String id = "r" + next;
            sent.put(id, System.nanoTime());
            producer.send(new ProducerRecord<>(in, id, paths.get((int) (next % paths.size()))));
            next++;
        }

        /** N paths handed to the producer as fast as it takes them. */
        void burst(int n) throws InterruptedException {
            long from = next;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) send();
            producer.flush();
            double pushSecs = (System.nanoTime() - t0) / 1e9;
            report("burst", from, next, t0, String.format(" (all %d handed to the producer in %.2f s)", n, pushSecs));
        }

        /** RATE paths per second until COUNT were sent. */
        void paced(String name, int rate, int count) throws InterruptedException {
            long from = next;
            long cpu0 = processCpuNanos();
            long t0 = System.nanoTime();
            for (int i = 0; i < count; i++) {
                long due = t0 + (long) (i * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                send();
            }
            producer.flush();
            report(name + " " + rate + "/s", from, next, t0, "", cpu0);
        }

        static long processCpuNanos() {
            return ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
        }

        void report(String name, long from, long to, long t0, String extra) throws InterruptedException {
            report(name, from, to, t0, extra, -1);
        }

        /** @param cpu0 this JVM's CPU time when the phase began, or -1: not reported */
        void report(String name, long from, long to, long t0, String extra, long cpu0) throws InterruptedException {
            long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
            while (System.nanoTime() < deadline && !all(from, to)) Thread.sleep(5);
            if (!all(from, to)) throw new IllegalStateException(name + ": not every request was answered within 5 minutes");
            long last = 0;
            double[] lat = new double[(int) (to - from)];
            for (long i = from; i < to; i++) {
                long done = answered.get("r" + i);
                last = Math.max(last, done);
                lat[(int) (i - from)] = (done - sent.get("r" + i)) / 1e6;
            }
            if (cpu0 >= 0) extra += String.format("; CPU %.2f ms per answer (scorer, broker and load)", (processCpuNanos() - cpu0) / 1e6 / (to - from));
            Arrays.sort(lat);
            double secs = (last - t0) / 1e9;
            System.out.printf("%s: %d paths answered in %.2f s = %.0f paths/s; latency p50 %.0f ms, p99 %.0f ms, max %.0f ms%s%n",
                    name, lat.length, secs, lat.length / secs, lat[lat.length / 2], lat[(int) (lat.length * 0.99)], lat[lat.length - 1], extra);
        }

        /** Latency of the requests sent in each minute (all already answered). */
        void perMinute(long from, long to) {
            long start = sent.get("r" + from);
            TreeMap<Long, List<Double>> byMinute = new TreeMap<>();
            for (long i = from; i < to; i++) {
                long s = sent.get("r" + i);
                byMinute.computeIfAbsent((s - start) / 60_000_000_000L, k -> new ArrayList<>()).add((answered.get("r" + i) - s) / 1e6);
            }
            byMinute.forEach((minute, lat) -> {
                double[] l = lat.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                System.out.printf("minute %d: %d paths, latency p50 %.0f ms, p99 %.0f ms, max %.0f ms%n",
                        minute + 1, l.length, l[l.length / 2], l[(int) (l.length * 0.99)], l[l.length - 1]);
            });
        }

        boolean all(long from, long to) {
            for (long i = from; i < to; i++) if (!answered.containsKey("r" + i)) return false;
            return true;
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            consumer.join();
            producer.close();
        }
    }
}
