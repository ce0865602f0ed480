package org.livetrain.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.DataStreamReader;
import org.apache.spark.sql.streaming.DataStreamWriter;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.Trigger;
import org.livetrain.LiveTrainException;
import org.livetrain.io.ImageFiles;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.ImageLimits;
import org.livetrain.serving.Promotion;
import org.livetrain.serving.Scorer;
import org.livetrain.serving.ServingStats;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointStore;

import java.io.Serializable;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * The Structured Streaming query of {@code submit.sh stream}: image paths from an input topic (at most
 * {@code maxOffsetsPerTrigger} per micro-batch), one JSON prediction record per request to an output topic,
 * keyed by request id ({@link AnswerBatch}: each partition writes its answers, in one Kafka transaction when
 * exactly once ({@link Delivery}); Spark's Kafka sink in continuous processing, at least once). Its offsets live
 * in a query checkpoint on shared storage, so a restarted scorer resumes where it stopped; a replayed request keeps its request id.
 */
public final class KafkaScorer {
    /** The scorer's settings: Kafka, the model directory, the query, and what requests may read. */
    public record Settings(Topics topics, CheckpointLocation models, Query query, Reading reading) {
    }

    /** The broker, the topic requests come from and the one answers go to, and the Kafka clients' own settings. */
    public record Topics(String bootstrapServers, String input, String output, Map<String, String> kafkaProperties) {
    }

    /**
     * The query: where its offsets live, its trigger (an interval, or {@code continuous}), requests per
     * micro-batch at most, and how often an answer is written when a batch is replayed.
     */
    public record Query(String checkpoint, String trigger, long maxOffsetsPerTrigger, Delivery delivery, Promotion promotion) {
        public Query {
            if (trigger.equals("continuous") && delivery == Delivery.EXACTLY_ONCE) {
                throw new LiveTrainException("--trigger continuous: answers exactly once need micro-batches (Spark's continuous Kafka sink has no transactions); use an interval, or --delivery at-least-once");
            }
            if (trigger.equals("continuous") && promotion.shadow()) {
                throw new LiveTrainException("--trigger continuous: shadow promotion needs micro-batches (each names the models it answers with); use an interval, or --promotion immediate");
            }
        }

        boolean continuous() {
            return trigger.equals("continuous");
        }
    }

    /**
     * Where a test may step into the scorer, and the only place: after a micro-batch's answers are written and
     * before Spark records the batch as done (the window a crash replays). {@code stream} takes it from its
     * run's hooks ({@code spark.livetrain.hooks}); without them it does nothing.
     */
    @FunctionalInterface
    public interface Hook extends Serializable {
        Hook NONE = batch -> {
        };

        void answersWritten(long batch);
    }

    /** What requests may read: files under these roots only (directories or URIs), within these limits. */
    public record Reading(List<String> allowedRoots, ImageLimits limits) implements Serializable {
        /** @param allowedRoots local ones made absolute here, on the driver, not on each executor's working directory */
        public Reading {
            allowedRoots = allowedRoots.stream().map(r -> ImageFiles.remote(r).isPresent() ? r : ImageFiles.local(r).toAbsolutePath().normalize().toString()).toList();
        }
    }

    /** Requests per micro-batch at most, by default: a few seconds of scoring on two cores. */
    public static final long DEFAULT_MAX_OFFSETS_PER_TRIGGER = 10_000;

    private KafkaScorer() {
    }

    public static StreamingQuery start(SparkSession spark, Settings s) {
        Promotion policy = s.query().promotion();
        return start(spark, s, new ServingStats(), Hook.NONE, policy.shadow() ? BestModelService.shadowing(s.models().open(), BestModelService.DEFAULT_POLL, policy) : null);
    }

    /**
     * @param stats summed from the executors as micro-batches finish (registered here on first use)
     * @param promotions with shadow promotion, the driver's model service, which decides (it outlives a restarted query); else null
     */
    public static StreamingQuery start(SparkSession spark, Settings s, ServingStats stats, Hook hook, BestModelService promotions) {
        if (s.query().promotion().shadow() != (promotions != null)) throw new IllegalArgumentException("shadow promotion is decided by the driver's model service");
        String name = "livetrain-scorer-" + s.topics().input();
        if (!stats.isRegistered()) { // the first start in this session: a restarted query keeps its figures
            spark.sparkContext().register(stats, "livetrain-serving");
            spark.streams().addListener(new ServingListener(name, stats, servedCreated(s.models(), promotions)));
        }
        ensureTopics(s.topics());
        if (isLocal(s.query().checkpoint())) {
            // Spark's default writes the offset and commit logs through Hadoop's FileContext, whose rename on a
            // local disk runs `readlink` in a child process when Hadoop's native library is absent (as here),
            // and Hadoop's local file system runs `chmod` for each new file: this one renames and writes with java.io.
            spark.conf().set(CHECKPOINT_FILE_MANAGER, LocalQueryLog.class.getName());
        }
        Dataset<Row> requests = source(spark, s);
        // the model directory's Hadoop configuration (hundreds of properties) goes to the executors once, not with every micro-batch's tasks
        Broadcast<CheckpointLocation> models = JavaSparkContext.fromSparkContext(spark.sparkContext()).broadcast(s.models());
        RequestScorer scorer = new RequestScorer(models, s.reading(), s.query().continuous() ? 1 : Scorer.BATCH, stats);
        DataStreamWriter<Row> writer = s.query().continuous()
                // continuous processing has no micro-batches: the map from source to sink is the whole plan
                ? requests.mapPartitions(scorer, Encoders.row(AnswerBatch.ANSWER)).writeStream().format("kafka")
                        .options(kafkaOptions(s.topics())).option("topic", s.topics().output())
                : requests.writeStream().foreachBatch(new AnswerBatch(new AnswerSender(requests.schema(), scorer, s.topics().output(),
                clientSettings(s.topics()), s.query().delivery(), null), hook, promotions));
        try {
            return writer.queryName(name).option("checkpointLocation", s.query().checkpoint()).trigger(trigger(s.query().trigger())).start();
        } catch (TimeoutException e) {
            throw new LiveTrainException("the scorer query did not start (" + e.getMessage() + ")", e);
        }
    }

    /**
     * When the served checkpoint was written: the driver's own model service knows it with shadow promotion; else
     * best.json says, read at most every 10 s.
     */
    private static Supplier<Instant> servedCreated(CheckpointLocation models, BestModelService promotions) {
        if (promotions != null) return () -> promotions.current().map(m -> instant(m.created())).orElse(null);
        CheckpointStore store = models.open();
        long[] readAt = {Long.MIN_VALUE};
        Instant[] created = {null};
        return () -> {
            if (System.nanoTime() - readAt[0] < 10_000_000_000L) return created[0];
            readAt[0] = System.nanoTime();
            try {
                created[0] = store.best().map(p -> instant(p.created())).orElse(null);
            } catch (RuntimeException e) { // storage away for a moment: the age waits
            }
            return created[0];
        };
    }

    private static Instant instant(String iso) {
        try {
            return iso == null ? null : Instant.parse(iso);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    /** The requests: Kafka records of the input topic, from the earliest not yet answered. */
    private static Dataset<Row> source(SparkSession spark, Settings s) {
        DataStreamReader reader = spark.readStream().format("kafka").options(kafkaOptions(s.topics()))
                .option("subscribe", s.topics().input())
                .option("startingOffsets", "earliest")
                // a backlog (after downtime, a burst) becomes several micro-batches rather than one giant one
                .option("maxOffsetsPerTrigger", s.query().maxOffsetsPerTrigger())
                .option("failOnDataLoss", "false");
        if (s.query().delivery() == Delivery.AT_LEAST_ONCE) {
            // every core the scorer may use scores, also when the topic has fewer partitions; exactly once, a
            // task answers one input partition (its transaction's id and marker are that partition's)
            reader = reader.option("minPartitions", String.valueOf(spark.sparkContext().defaultParallelism()));
        }
        return reader.load().select("key", "value", "topic", "partition", "offset", "timestamp");
    }

    /** The Kafka clients' settings, as Spark's Kafka source and sink take them. */
    private static Map<String, String> kafkaOptions(Topics s) {
        Map<String, String> o = new LinkedHashMap<>();
        clientSettings(s).forEach((k, v) -> o.put("kafka." + k, v));
        return o;
    }

    /** The Kafka clients' settings, as a client takes them: the broker and the user's properties. */
    private static Map<String, String> clientSettings(Topics s) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("bootstrap.servers", s.bootstrapServers());
        o.putAll(s.kafkaProperties());
        return o;
    }

    /**
     * Creates the input and output topics when they do not exist yet (with the broker's defaults): the
     * Kafka source fails a query whose topic is missing, and a scorer usually starts before the first push.
     */
    static void ensureTopics(Topics s) {
        Properties p = new Properties();
        p.put("bootstrap.servers", s.bootstrapServers());
        p.putAll(s.kafkaProperties());
        p.put("default.api.timeout.ms", "30000");
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (String t : List.of(s.input(), s.output())) {
                if (!existing.contains(t)) missing.add(new NewTopic(t, Optional.empty(), Optional.empty()));
            }
            if (missing.isEmpty()) return;
            try {
                admin.createTopics(missing).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LiveTrainException("interrupted while checking the topics");
        } catch (Exception e) {
            Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            throw new LiveTrainException("--bootstrap-servers " + s.bootstrapServers() + ": cannot check or create topics "
                    + s.input() + " and " + s.output() + " (" + c + ")");
        }
    }

    static final String CHECKPOINT_FILE_MANAGER = "spark.sql.streaming.checkpointFileManagerClass";

    static boolean isLocal(String uri) {
        try {
            String scheme = URI.create(uri.replace(" ", "%20")).getScheme();
            return scheme == null || scheme.equals("file");
        } catch (IllegalArgumentException e) {
            return true; // not a URI: a local path
        }
    }

    static Trigger trigger(String t) {
        // continuous processing supports map-like plans such as this one (the scorer maps rows lazily)
        if (t.equals("continuous")) return Trigger.Continuous("1 second");
        try {
            return Trigger.ProcessingTime(t);
        } catch (IllegalArgumentException e) {
            throw new LiveTrainException("--trigger " + t + ": not an interval (for example '1 second', '500 milliseconds', '0 seconds') nor 'continuous'");
        }
    }
}
