package org.livetrain.kafka;

import org.apache.kafka.common.errors.RetriableException;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;

/**
 * One micro-batch of requests answered: each partition scored and sent to the output topic on an executor
 * ({@link AnswerSender}), then what the topic refused said once here, on the driver. An answer refused with
 * an error no retry can fix is answered with an error record instead and the stream goes on; a failure a
 * retry may get past (the broker away, a timeout) fails the query, which {@code stream} starts again from
 * its checkpoint, losing nothing.
 */
final class AnswerBatch implements VoidFunction2<Dataset<Row>, Long> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(AnswerBatch.class);
    /** An answer: the request id (the record key) and its JSON record (the value). */
    static final StructType ANSWER = new StructType().add("key", DataTypes.StringType).add("value", DataTypes.StringType);

    private final AnswerSender sender;

    /**
     * @param requests the columns of the Kafka source's rows
     * @param kafka the Kafka clients' settings ({@code bootstrap.servers} and the user's properties, without the {@code kafka.} prefix)
     */
    AnswerBatch(StructType requests, RequestScorer scorer, String topic, Map<String, String> kafka) {
        this.sender = new AnswerSender(requests, scorer, topic, kafka);
    }

    @Override
    public void call(Dataset<Row> requests, Long batch) {
        AnswerSender.Sent sent = requests.queryExecution().toRdd().toJavaRDD().mapPartitions(sender).fold(AnswerSender.Sent.NONE, AnswerSender.Sent::plus);
        if (sent.refused() > 0) {
            LOG.warn("micro-batch {}: the output topic refused {} of its {} answers ({}); each of those requests is answered with an error record instead",
                    batch, sent.refused(), sent.answers(), sent.why());
        }
    }

    /** Whether the failure may pass by itself: Kafka says so of its own errors (a broker away, a timeout). */
    static boolean retriable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof RetriableException) return true;
        }
        return false;
    }
}
