package org.livetrain.kafka;

import org.apache.kafka.common.errors.RetriableException;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.ServingStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Timestamp;
import java.util.Map;

/**
 * One micro-batch of requests answered: scored on the executors ({@link RequestScorer}) and written to the
 * output topic as one Spark batch write. A write that fails with an error no retry can fix (an answer the
 * topic refuses, say) is tried {@value #ATTEMPTS} times; then every request of the batch is answered with an
 * error record naming the failure, this is said once, and the stream goes on: Spark's offset log is left as
 * it is, the batch simply ends. A failure a retry may get past (the broker away, a timeout) fails the query,
 * which {@code stream} starts again from its checkpoint, losing nothing.
 */
final class AnswerBatch implements VoidFunction2<Dataset<Row>, Long> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(AnswerBatch.class);
    static final int ATTEMPTS = 3;
    /** An answer: the request id (the record key) and its JSON record (the value). */
    static final StructType ANSWER = new StructType().add("key", DataTypes.StringType).add("value", DataTypes.StringType);

    private final RequestScorer scorer;
    private final Map<String, String> sink;
    private final ServingStats stats;

    /** @param sink the Kafka sink's options: {@code topic} and {@code kafka.*} */
    AnswerBatch(RequestScorer scorer, Map<String, String> sink, ServingStats stats) {
        this.scorer = scorer;
        this.sink = sink;
        this.stats = stats;
    }

    @Override
    public void call(Dataset<Row> requests, Long batch) throws Exception {
        Exception last = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            try {
                write(requests.mapPartitions(scorer, Encoders.row(ANSWER)));
                return;
            } catch (Exception e) { // Spark's SparkException is checked in Java and thrown undeclared
                if (retriable(e)) throw e;
                last = e;
            }
        }
        String why = ScoreRecord.cut(rootLine(last), 300);
        LOG.warn("micro-batch {} could not be written in {} attempts ({}); each of its requests is answered with an error record", batch, ATTEMPTS, why);
        write(requests.map(new Unanswered(batch, why, stats), Encoders.row(ANSWER)));
    }

    private void write(Dataset<Row> answers) {
        answers.write().format("kafka").options(sink).save();
    }

    /** Whether the failure may pass by itself: Kafka says so of its own errors (a broker away, a timeout). */
    static boolean retriable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof RetriableException) return true;
        }
        return false;
    }

    private static String rootLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String m = String.valueOf(root.getMessage());
        return root.getClass().getSimpleName() + ": " + m.lines().findFirst().orElse("");
    }

    /** A request's answer when its batch could not be written: its id and why, nothing else of it echoed. */
    private record Unanswered(long batch, String why, ServingStats stats) implements MapFunction<Row, Row> {
        @Override
        public Row call(Row request) {
            Timestamp sent = request.getAs("timestamp");
            stats.record(sent == null ? 0 : System.currentTimeMillis() - sent.getTime(), true, -1);
            return RequestScorer.answer(ScoreRecord.error(RequestScorer.requestId(request), null, "not answered: micro-batch " + batch
                    + " could not be written in " + ATTEMPTS + " attempts (" + why + "); push the request again"));
        }
    }
}
