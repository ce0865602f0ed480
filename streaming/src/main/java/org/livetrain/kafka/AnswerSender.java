package org.livetrain.kafka;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.StructType;
import org.livetrain.serving.ScoreRecord;
import scala.Function1;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/**
 * Scores one partition of a micro-batch on an executor ({@link RequestScorer}) and sends each answer to the
 * output topic through this JVM's producer for that topic's settings (one per JVM, shared by its tasks, as
 * Spark's Kafka sink caches its own), then waits until every answer is acknowledged.
 * <ul>
 * <li>An answer the topic refuses with an error no retry can fix (a record too large, say) is replaced by a
 * small error record naming the refusal, never retried as it was.</li>
 * <li>A failure a retry may get past (the broker away, a timeout, after the producer's own retries), or an
 * error record refused too, fails the task: the micro-batch is not committed and is answered again from its
 * offsets, so nothing is lost (and answers already sent may come twice: at-least-once).</li>
 * </ul>
 * It reads the micro-batch's own planned rows (as Spark's Kafka writer does), and sends directly rather than
 * through Spark's Kafka batch writer: either of those would make the driver plan a second query per
 * micro-batch (issue 29's profile at 300 requests/s: 11% of the scorer's CPU for the writer, 6% for the rows
 * as a Dataset's RDD).
 */
final class AnswerSender implements FlatMapFunction<Iterator<InternalRow>, AnswerSender.Sent> {
    private static final long serialVersionUID = 1L;
    private static final Map<Map<String, Object>, KafkaProducer<String, String>> PRODUCERS = new ConcurrentHashMap<>();

    /** How a partition's answers went: sent, refused by the topic (and answered with an error record instead), and the first refusal. */
    record Sent(long answers, long refused, String why) implements Serializable {
        static final Sent NONE = new Sent(0, 0, null);

        Sent plus(Sent o) {
            return new Sent(answers + o.answers, refused + o.refused, why != null ? why : o.why);
        }
    }

    private final StructType requests;
    private final RequestScorer scorer;
    private final String topic;
    private final HashMap<String, Object> producer;

    /**
     * @param requests the columns of the Kafka source's rows
     * @param kafka the Kafka clients' settings, {@code bootstrap.servers} and the user's {@code kafka.*} properties without the prefix
     */
    AnswerSender(StructType requests, RequestScorer scorer, String topic, Map<String, String> kafka) {
        this.requests = requests;
        this.scorer = scorer;
        this.topic = topic;
        this.producer = new HashMap<>(kafka);
        producer.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producer.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    }

    @Override
    public Iterator<Sent> call(Iterator<InternalRow> partition) throws Exception {
        KafkaProducer<String, String> p = PRODUCERS.computeIfAbsent(producer, KafkaProducer::new);
        Function1<Object, Object> toRow = CatalystTypeConverters.createToScalaConverter(requests); // copies out of Spark's reused rows
        Iterator<Row> rows = new Iterator<>() {
            @Override
            public boolean hasNext() {
                return partition.hasNext();
            }

            @Override
            public Row next() {
                return (Row) toRow.apply(partition.next());
            }
        };
        List<Answer> sent = send(p, scorer.call(rows));
        List<Answer> refused = new ArrayList<>();
        String why = null;
        for (Answer a : sent) {
            String refusal = refusal(a.ack());
            if (refusal == null) continue;
            if (why == null) why = refusal;
            refused.add(new Answer(a.key(), p.send(record(a.key(), ScoreRecord.error(a.key(), null, "not answered: the output topic refused the answer ("
                    + refusal + "); push the request again")))));
        }
        for (Answer e : refused) {
            String refusal = refusal(e.ack());
            if (refusal != null) throw new IllegalStateException("the output topic " + topic + " refused an answer and its error record too (" + refusal + ")");
        }
        return List.of(new Sent(sent.size(), refused.size(), why)).iterator();
    }

    /** An answer on its way: its key (the request id) and the broker's acknowledgement to come. */
    private record Answer(String key, Future<RecordMetadata> ack) {
    }

    private List<Answer> send(KafkaProducer<String, String> p, Iterator<Row> answers) {
        List<Answer> sent = new ArrayList<>();
        while (answers.hasNext()) {
            Row a = answers.next();
            sent.add(new Answer(a.getString(0), p.send(new ProducerRecord<>(topic, a.getString(0), a.getString(1)))));
        }
        return sent;
    }

    private ProducerRecord<String, String> record(String key, ScoreRecord answer) {
        Row r = RequestScorer.answer(answer);
        return new ProducerRecord<>(topic, r.getString(0), r.getString(1));
    }

    /**
     * Null when the answer was written; why not when the topic refused it for good.
     * @throws ExecutionException when a retry may get past the failure (Kafka says so of its own errors)
     */
    private static String refusal(Future<RecordMetadata> ack) throws ExecutionException, InterruptedException {
        try {
            ack.get();
            return null;
        } catch (ExecutionException e) {
            if (AnswerBatch.retriable(e)) throw e;
            Throwable c = e.getCause() == null ? e : e.getCause();
            return ScoreRecord.cut(c.getClass().getSimpleName() + ": " + String.valueOf(c.getMessage()).lines().findFirst().orElse(""), 300);
        }
    }

    /** For tests and a clean shutdown: close this JVM's producers. */
    static void closeAll() {
        PRODUCERS.values().forEach(KafkaProducer::close);
        PRODUCERS.clear();
    }
}
