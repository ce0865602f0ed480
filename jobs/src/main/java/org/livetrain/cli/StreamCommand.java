package org.livetrain.cli;

import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryException;
import org.livetrain.LiveTrainException;
import org.livetrain.jobs.byteps.Hooks;
import org.livetrain.kafka.Delivery;
import org.livetrain.kafka.KafkaScorer;
import org.livetrain.kafka.PromotionFile;
import org.livetrain.kafka.RequestScorer;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.Promoter;
import org.livetrain.serving.Promotion;
import org.livetrain.serving.ServingStats;
import org.livetrain.spark.SparkSessions;
import org.livetrain.store.CheckpointLocation;
import org.livetrain.store.CheckpointStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;

/** {@code livetrain stream}: the Kafka scorer, a Structured Streaming query. */
@Command(name = "stream", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Score image paths read from a Kafka topic with the best model so far, and write one JSON record per request",
                "({\"request_id\", \"path\", \"prediction\", \"confidence\", \"top\", \"model_step\", \"model_run\", \"model_sha256\", \"model_val_accuracy\", \"error\", \"shadow\"})",
                "to another topic, keyed by request id. Runs until stopped; a restarted scorer resumes from its offsets."})
public final class StreamCommand implements Callable<Integer> {
    @Mixin
    KafkaOptions kafka;

    @Option(names = "--input-topic", paramLabel = "TOPIC", defaultValue = "image-paths", description = "Where image paths arrive.")
    String inputTopic;

    @Option(names = "--output-topic", paramLabel = "TOPIC", defaultValue = "predictions", description = "Where prediction records go.")
    String outputTopic;

    @Mixin
    CheckpointDirOption checkpoints;

    @Option(names = "--query-checkpoint", paramLabel = "URI", description = "The query's own offsets and state (default: CHECKPOINT_DIR/scorer-query).")
    String queryCheckpoint;

    @Option(names = "--trigger", paramLabel = "INTERVAL", defaultValue = "250 milliseconds",
            description = "Micro-batch interval ('0 seconds': as soon as the previous one ends, which keeps polling Kafka when idle), or 'continuous'.")
    String trigger;

    @Option(names = "--delivery", paramLabel = "MODE", defaultValue = "exactly-once",
            description = "exactly-once: each micro-batch's answers in Kafka transactions, so a consumer reading with isolation.level=read_committed sees each request answered once, "
                    + "also after a crash; at-least-once: a replayed batch answers its requests again (same request ids); the only mode with --trigger continuous.")
    String delivery;

    @Option(names = "--max-offsets-per-trigger", paramLabel = "N", defaultValue = "" + KafkaScorer.DEFAULT_MAX_OFFSETS_PER_TRIGGER,
            description = "Requests per micro-batch at most (Spark's maxOffsetsPerTrigger): a backlog after downtime is answered in several batches, not one giant one.")
    long maxOffsetsPerTrigger;

    @Mixin
    PromotionOptions promotion;

    @Mixin
    ImageLimitOptions limits;

    @Option(names = {"--serving-cores", "--threads"}, paramLabel = "N", defaultValue = "1",
            description = "Local mode: the cores scoring may keep busy (Spark task threads, each scoring with one ND4J thread); the rest are training's. On a cluster the executors' cores decide.")
    int servingCores;

    @Option(names = "--stats-every", paramLabel = "SECONDS", defaultValue = "10",
            description = "Print a summary line (requests, errors, throughput, latency p50/p99, model step) and append it to serving-stats.jsonl in the checkpoint directory this often; 0: never.")
    int statsEvery;

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain top;

    static long checkPositive(String option, long n) {
        if (n < 1) throw new LiveTrainException(option + " " + n + ": must be at least 1");
        return n;
    }

    static int checkServingCores(int n) {
        int cores = Runtime.getRuntime().availableProcessors();
        if (n < 1 || n > cores) throw new LiveTrainException("--serving-cores " + n + ": must be between 1 and the " + cores + " cores of this machine");
        return n;
    }

    @Override
    public Integer call() throws Exception {
        common.apply();
        KafkaScorer.Reading reading = new KafkaScorer.Reading(limits.allowedRoots.isEmpty() ? List.of("") : limits.allowedRoots, limits.limits());
        KafkaScorer.Query query = new KafkaScorer.Query(queryCheckpoint != null ? queryCheckpoint : checkpoints.uri().replaceAll("/+$", "") + "/scorer-query",
                trigger, checkPositive("--max-offsets-per-trigger", maxOffsetsPerTrigger), Delivery.parse(delivery), promotion.policy(Promotion.Mode.SHADOW));
        SparkSession spark = SparkSessions.create("LiveTrain stream", checkServingCores(servingCores), common.conf());
        CheckpointLocation models = checkpoints.location(spark.sparkContext().hadoopConfiguration());
        KafkaScorer.Settings settings = new KafkaScorer.Settings(new KafkaScorer.Topics(kafka.bootstrapServers, inputTopic, outputTopic, kafka.properties),
                models, query, reading);
        ServingStats stats = new ServingStats();
        KafkaScorer.Hook hook = Hooks.from(common.conf())::answersWritten;
        BestModelService promotions = query.promotion().shadow()
                ? promotions(models, query.promotion(), new PromotionFile(query.checkpoint(), spark.sparkContext().hadoopConfiguration())) : null;
        Thread reporter = statsEvery > 0 ? new Thread(() -> reportStats(stats, models, promotions), "livetrain-serving-stats") : null;
        try {
            // the first start fails fast (a wrong address or topic is a usage error); once running, a
            // failed query (the broker went away, say) is started again from its checkpoint, losing nothing
            StreamingQuery q = KafkaScorer.start(spark, settings, stats, hook, promotions);
            if (reporter != null) {
                reporter.setDaemon(true);
                reporter.start();
            }
            top.out.printf("scoring %s -> %s on %s with the best model of %s (promotion %s; allowed roots %s; query checkpoint %s)%n",
                    inputTopic, outputTopic, kafka.bootstrapServers, models, query.promotion().describe(), reading.allowedRoots(), query.checkpoint());
            SparkSessions.metricsUrl(spark).ifPresent(url -> top.out.printf("metrics (Prometheus): %s; Spark UI: %s%n", url, spark.sparkContext().uiWebUrl().get()));
            top.out.flush();
            int failures = 0;
            while (true) {
                try {
                    q.awaitTermination();
                    return 0; // stopped, not failed
                } catch (StreamingQueryException e) {
                    if (fenced(e)) {
                        top.err.printf("another scorer took over query %s (its Kafka producers fenced this one's); this one stops%n", query.checkpoint());
                        top.err.flush();
                        return 1;
                    }
                    long delay = Math.min(MAX_RESTART_DELAY_SECONDS, 1L << Math.min(failures++, 5));
                    top.err.printf("the scorer query failed (%s); restarting it from %s in %d s%n", firstLine(e), query.checkpoint(), delay);
                    top.err.flush();
                    q = restart(spark, settings, stats, hook, promotions, delay);
                    failures = 0;
                }
            }
        } finally {
            if (reporter != null) reporter.interrupt();
            if (promotions != null) promotions.close();
            RequestScorer.closeAll();
            spark.stop();
        }
    }

    /**
     * Every --stats-every seconds: one line with the interval's figures (summed from the executors as
     * micro-batches finish; continuous processing reports nothing until its tasks end), also appended to
     * serving-stats.jsonl for the report. A checkpoint directory this scorer may not write to only
     * loses the file (said once).
     */
    private void reportStats(ServingStats stats, CheckpointLocation models, BestModelService promotions) {
        CheckpointStore store = LiveTrainException.about("--checkpoint-dir", models::open);
        ServingStats.Snapshot before = stats.value();
        boolean canWrite = true;
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(statsEvery * 1000L);
            } catch (InterruptedException e) {
                return;
            }
            ServingStats.Snapshot now = stats.value(), interval = now.minus(before);
            before = now;
            double p50 = interval.percentileMillis(0.5), p99 = interval.percentileMillis(0.99);
            top.out.printf(Locale.ROOT, "scorer: %d requests (%d errors) in %d s = %.1f/s; latency p50 %.0f ms, p99 %.0f ms; model step %s%n",
                    interval.requests(), interval.errors(), statsEvery, interval.requests() / (double) statsEvery, p50, p99,
                    now.modelStep() < 0 ? "none yet" : Long.toString(now.modelStep()));
            if (promotions != null) promotions.promotionStatus().ifPresent(p -> top.out.printf("scorer: %s%n", p));
            top.out.flush();
            if (!canWrite || interval.requests() == 0) continue;
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("time", Instant.now().toString());
            line.put("interval_seconds", statsEvery);
            line.put("requests", interval.requests());
            line.put("errors", interval.errors());
            line.put("per_second", interval.requests() / (double) statsEvery);
            line.put("p50_ms", p50);
            line.put("p99_ms", p99);
            line.put("model_step", now.modelStep());
            line.put("latency_histogram", interval.histogram());
            try {
                store.appendServingStats(line);
            } catch (RuntimeException e) {
                canWrite = false;
                top.err.printf("serving figures not recorded in %s (%s); the summary lines go on%n", models, e.getMessage());
            }
        }
    }

    /**
     * The driver's model service, which decides promotions for every executor: it follows best.json, shadows each
     * newer best, and says each decision in one line and one record of serving-stats.jsonl (a directory this
     * scorer may not write to only loses the record, said once). It starts from what the query decided before
     * it was restarted ({@link PromotionFile}), and saves each decision there.
     */
    private BestModelService promotions(CheckpointLocation models, Promotion policy, PromotionFile saved) {
        CheckpointStore store = LiveTrainException.about("--checkpoint-dir", models::open);
        Promoter.State before = saved.read().orElse(null);
        BestModelService service = BestModelService.shadowing(store, BestModelService.DEFAULT_POLL, policy, before);
        if (before != null && before.serving() != null) {
            top.out.printf("scorer: taking up %s: %s%n", saved, service.current().map(m -> "serving " + m.describe() + " as promoted before")
                    .orElse("the model promoted before cannot be loaded; serving best.json's"));
        }
        AtomicBoolean unrecorded = new AtomicBoolean();
        service.onEvent(line -> {
            top.out.println("scorer: " + line);
            top.out.flush();
        });
        if (service.candidate().isPresent()) service.promotionStatus().ifPresent(st -> top.out.println("scorer: " + st)); // found before the listener
        service.onDecision(d -> {
            try {
                saved.write(service.promotionState());
            } catch (RuntimeException e) {
                top.err.printf("the promotion state is not saved (%s): a restarted scorer would start from best.json's model%n", e.getMessage());
            }
            if (unrecorded.get()) return;
            try {
                store.appendServingStats(d.record());
            } catch (RuntimeException e) {
                unrecorded.set(true);
                top.err.printf("promotion decisions not recorded in %s (%s)%n", models, e.getMessage());
            }
        });
        return service;
    }

    static final long MAX_RESTART_DELAY_SECONDS = 30;

    /** Starts the query again after {@code delaySeconds}, retrying (with a growing delay) while it cannot start. */
    private StreamingQuery restart(SparkSession spark, KafkaScorer.Settings settings, ServingStats stats, KafkaScorer.Hook hook, BestModelService promotions,
                                   long delaySeconds)
            throws InterruptedException {
        long delay = delaySeconds;
        while (true) {
            Thread.sleep(delay * 1000);
            try {
                StreamingQuery q = KafkaScorer.start(spark, settings, stats, hook, promotions);
                top.err.printf("the scorer query is running again%n");
                top.err.flush();
                return q;
            } catch (Exception e) { // Spark's Scala code throws checked exceptions (HDFS's SafeModeException, say) undeclared
                if (e instanceof InterruptedException ie) throw ie;
                delay = Math.min(MAX_RESTART_DELAY_SECONDS, delay * 2);
                top.err.printf("the scorer query could not start (%s); trying again in %d s%n", firstLine(e), delay);
                top.err.flush();
            }
        }
    }

    /**
     * Whether the query failed because a newer scorer of the same query fenced this one's transactional
     * producers: starting again would fence that one in turn, so this one stops. (Spark may carry the
     * executor's exception as text only.)
     */
    static boolean fenced(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ProducerFencedException || String.valueOf(t.getMessage()).contains(ProducerFencedException.class.getSimpleName())) return true;
        }
        return false;
    }

    private static String firstLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String m = String.valueOf(root.getMessage());
        int nl = m.indexOf('\n');
        return root.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl));
    }
}
