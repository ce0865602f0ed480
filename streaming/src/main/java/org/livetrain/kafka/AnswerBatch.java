package org.livetrain.kafka;

import org.apache.kafka.common.errors.RetriableException;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.execution.streaming.StreamExecution;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.livetrain.metrics.Readings;
import org.livetrain.serving.BestModelService;
import org.livetrain.serving.Promoter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;


/**
 * One micro-batch of requests answered: each partition scored and written to the output topic on an
 * executor ({@link AnswerSender}, at least or exactly once), then what the topic refused, and what a replay
 * found answered already, said once here, on the driver. With shadow promotion the driver's model service
 * names the models of each micro-batch (its {@link Promoter.Plan}) and takes the executors' comparisons of the
 * candidate with the serving model, so that a promotion is decided in one place and every executor follows it. An answer refused with an error no retry can fix is
 * answered with an error record instead and the stream goes on; a failure a retry may get past (the broker
 * away, a timeout) fails the query, which {@code stream} starts again from its checkpoint, losing nothing.
 */
final class AnswerBatch implements VoidFunction2<Dataset<Row>, Long> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(AnswerBatch.class);
    /** An answer: the request id (the record key) and its JSON record (the value). */
    static final StructType ANSWER = new StructType().add("key", DataTypes.StringType).add("value", DataTypes.StringType);

    private final AnswerSender sender;
    private final KafkaScorer.Hook hook;
    /** The driver's model service deciding promotions; null when each new best serves at once. */
    private final transient BestModelService promotions;
    /** Whether a batch ran since this query started: the first may be a replay of one answered before a crash. */
    private boolean started;

    AnswerBatch(AnswerSender sender, KafkaScorer.Hook hook, BestModelService promotions) {
        this.sender = sender;
        this.hook = hook;
        this.promotions = promotions;
    }

    @Override
    public void call(Dataset<Row> requests, Long batch) {
        String query = requests.sparkSession().sparkContext().getLocalProperty(StreamExecution.QUERY_ID_KEY());
        AnswerSender.Sent sent = requests.queryExecution().toRdd().toJavaRDD()
                .mapPartitions(sender.forBatch(new AnswerSender.Batch(query, batch, !started, promotions == null ? null : promotions.plan())))
                .fold(AnswerSender.Sent.NONE, AnswerSender.Sent::plus);
        started = true;
        if (promotions != null && sent.shadowed() != null) promotions.shadowed(sent.shadowed());
        Readings.Driver.SERVING_TOPIC_REFUSALS.add(sent.refused());
        if (sent.refused() > 0) {
            LOG.warn("micro-batch {}: the output topic refused {} of its {} answers ({}); each of those requests is answered with an error record instead",
                    batch, sent.refused(), sent.answers(), sent.why());
        }
        if (sent.replayed() > 0) {
            LOG.warn("micro-batch {} replayed: {} of its requests were answered (committed) before the scorer stopped, and are not answered again",
                    batch, sent.replayed());
        }
        hook.answersWritten(batch);
    }

    /** Whether the failure may pass by itself: Kafka says so of its own errors (a broker away, a timeout). */
    static boolean retriable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof RetriableException) return true;
        }
        return false;
    }
}
