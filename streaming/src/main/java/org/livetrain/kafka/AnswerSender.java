package org.livetrain.kafka;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.StructType;
import org.livetrain.kafka.AnswerTransaction.Answer;
import org.livetrain.serving.Promoter;
import org.livetrain.serving.ScoreRecord;
import org.livetrain.serving.ShadowTally;
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
 * Scores one partition of a micro-batch on an executor ({@link RequestScorer}) and writes its answers to the
 * output topic, as the query's {@link Delivery} says:
 * <ul>
 * <li>exactly once: all of them in one transaction with a marker of the batch ({@link AnswerTransaction});
 * a partition whose answers a crash left committed but unrecorded writes nothing when replayed;</li>
 * <li>at least once: through this JVM's producer for the topic's settings (one per JVM, shared by its tasks,
 * as Spark's Kafka sink caches its own), then waiting until every answer is acknowledged.</li>
 * </ul>
 * Either way an answer the topic refuses with an error no retry can fix (a record too large, say) is replaced
 * by a small error record naming the refusal, never retried as it was; a failure a retry may get past (the
 * broker away, a timeout, after the producer's own retries), or an error record refused too, fails the task,
 * so the batch is not recorded and is answered again from its offsets.
 * <p>
 * It reads the micro-batch's own planned rows (as Spark's Kafka writer does), and sends directly rather than
 * through Spark's Kafka batch writer: either of those would make the driver plan a second query per
 * micro-batch (issue 29's profile at 300 requests/s: 11% of the scorer's CPU for the writer, 6% for the rows
 * as a Dataset's RDD).
 */
final class AnswerSender implements FlatMapFunction<Iterator<InternalRow>, AnswerSender.Sent> {
    private static final long serialVersionUID = 1L;
    private static final Map<Map<String, Object>, KafkaProducer<String, String>> PRODUCERS = new ConcurrentHashMap<>();

    /**
     * How a partition's answers went: written, refused by the topic (answered with an error record instead) and
     * the first refusal, requests not answered again because a replayed batch had answered them already, and
     * how the plan's candidate answered the same requests (null when none was shadowed).
     */
    record Sent(long answers, long refused, String why, long replayed, ShadowTally shadowed) implements Serializable {
        static final Sent NONE = new Sent(0, 0, null, 0, null);

        Sent(long answers, long refused, String why, long replayed) {
            this(answers, refused, why, replayed, null);
        }

        Sent plus(Sent o) {
            ShadowTally both = shadowed == null ? o.shadowed : o.shadowed == null ? shadowed : new ShadowTally(shadowed.candidate()).plus(shadowed).plus(o.shadowed);
            return new Sent(answers + o.answers, refused + o.refused, why != null ? why : o.why, replayed + o.replayed, both);
        }
    }

    /**
     * The micro-batch: its query's id and number, whether it may have been answered before (the first after a
     * start), and the driver's models for it when the driver decides promotions (else null).
     */
    record Batch(String queryId, long id, boolean mayBeReplay, Promoter.Plan plan) implements Serializable {
    }

    private final StructType requests;
    private final RequestScorer scorer;
    private final String topic;
    private final HashMap<String, String> kafka;
    private final Delivery delivery;
    private final Batch batch;

    /**
     * @param requests the columns of the Kafka source's rows
     * @param kafka the Kafka clients' settings, {@code bootstrap.servers} and the user's {@code kafka.*} properties without the prefix
     */
    AnswerSender(StructType requests, RequestScorer scorer, String topic, Map<String, String> kafka, Delivery delivery, Batch batch) {
        this.requests = requests;
        this.scorer = scorer;
        this.topic = topic;
        this.kafka = new HashMap<>(kafka);
        this.delivery = delivery;
        this.batch = batch;
    }

    AnswerSender forBatch(Batch b) {
        return new AnswerSender(requests, scorer, topic, kafka, delivery, b);
    }

    @Override
    public Iterator<Sent> call(Iterator<InternalRow> partition) throws Exception {
        Requests rows = new Requests(partition, requests);
        return List.of(delivery == Delivery.EXACTLY_ONCE ? exactlyOnce(rows) : atLeastOnce(rows)).iterator();
    }

    private Sent exactlyOnce(Requests rows) throws Exception {
        if (!rows.hasNext()) return Sent.NONE;
        TopicPartition input = rows.input();
        AnswerTransaction tx = new AnswerTransaction(kafka, batch.queryId(), input, batch.id());
        if ((batch.mayBeReplay() || TaskContext.get().attemptNumber() > 0) && tx.committed()) return new Sent(0, 0, null, rows.skip());
        List<Answer> answers = new ArrayList<>();
        RequestScorer.Answers it = scorer.answers(rows, batch.plan());
        while (it.hasNext()) {
            Row a = it.next();
            answers.add(new Answer(a.getString(0), a.getString(1)));
        }
        if (rows.next.size() != 1) throw new IllegalStateException("a partition of micro-batch " + batch.id() + " held the requests of " + rows.next.keySet());
        AnswerTransaction.Refused r = tx.write(topic, answers, rows.next.get(input), (a, why) -> refusedAnswer(a.key(), why));
        return new Sent(answers.size(), r.count(), r.why(), 0, shadowed(it));
    }

    private Sent atLeastOnce(Requests rows) throws Exception {
        KafkaProducer<String, String> p = PRODUCERS.computeIfAbsent(producerSettings(), KafkaProducer::new);
        List<Answer> sent = new ArrayList<>();
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        RequestScorer.Answers it = scorer.answers(rows, batch.plan());
        while (it.hasNext()) {
            Row a = it.next();
            sent.add(new Answer(a.getString(0), a.getString(1)));
            acks.add(p.send(new ProducerRecord<>(topic, a.getString(0), a.getString(1))));
        }
        List<Future<RecordMetadata>> errorAcks = new ArrayList<>();
        String why = null;
        for (int i = 0; i < sent.size(); i++) {
            String refusal = refusal(acks.get(i));
            if (refusal == null) continue;
            if (why == null) why = refusal;
            Answer e = refusedAnswer(sent.get(i).key(), refusal);
            errorAcks.add(p.send(new ProducerRecord<>(topic, e.key(), e.value())));
        }
        for (Future<RecordMetadata> e : errorAcks) {
            String refusal = refusal(e);
            if (refusal != null) throw new IllegalStateException("the output topic " + topic + " refused an answer and its error record too (" + refusal + ")");
        }
        return new Sent(sent.size(), errorAcks.size(), why, 0, shadowed(it));
    }

    /** The partition's comparisons of a shadowed candidate with the serving model, or null when there were none. */
    private static ShadowTally shadowed(RequestScorer.Answers answers) {
        ShadowTally t = answers.shadowed();
        return t.requests() == 0 ? null : t;
    }

    private HashMap<String, Object> producerSettings() {
        HashMap<String, Object> c = new HashMap<>(kafka);
        c.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        c.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return c;
    }

    /** The answer to a request whose answer the topic refused: a small error record that says why. */
    private static Answer refusedAnswer(String requestId, String refusal) {
        Row r = RequestScorer.answer(ScoreRecord.error(requestId, null, "not answered: the output topic refused the answer (" + refusal + "); push the request again"));
        return new Answer(r.getString(0), r.getString(1));
    }

    /**
     * Null when the answer was written; why not when the topic refused it for good.
     * @throws ExecutionException when a retry may get past the failure (Kafka says so of its own errors)
     */
    static String refusal(Future<RecordMetadata> ack) throws ExecutionException, InterruptedException {
        try {
            ack.get();
            return null;
        } catch (ExecutionException e) {
            if (AnswerBatch.retriable(e)) throw e;
            return describe(e.getCause() == null ? e : e.getCause());
        }
    }

    /** A refusal in one short line: the error's class and the first line of its message. */
    static String describe(Throwable refusal) {
        return ScoreRecord.cut(refusal.getClass().getSimpleName() + ": " + String.valueOf(refusal.getMessage()).lines().findFirst().orElse(""), 300);
    }

    /** A partition's requests as rows (copied out of Spark's reused ones), and the next offset of each input partition they came from. */
    private static final class Requests implements Iterator<Row> {
        private final Iterator<InternalRow> rows;
        private final Function1<Object, Object> toRow;
        private Row peeked;
        final Map<TopicPartition, Long> next = new HashMap<>();

        Requests(Iterator<InternalRow> rows, StructType schema) {
            this.rows = rows;
            this.toRow = CatalystTypeConverters.createToScalaConverter(schema);
        }

        @Override
        public boolean hasNext() {
            return peeked != null || rows.hasNext();
        }

        @Override
        public Row next() {
            Row r = peeked != null ? peeked : (Row) toRow.apply(rows.next());
            peeked = null;
            next.merge(inputOf(r), r.<Long>getAs("offset") + 1, Math::max);
            return r;
        }

        /** The input partition of the next request (there must be one). */
        TopicPartition input() {
            if (peeked == null) peeked = (Row) toRow.apply(rows.next());
            return inputOf(peeked);
        }

        private static TopicPartition inputOf(Row r) {
            return new TopicPartition(r.getAs("topic"), r.<Integer>getAs("partition"));
        }

        /** Passes over the rest, unanswered; how many there were. */
        long skip() {
            long n = peeked != null ? 1 : 0;
            peeked = null;
            for (; rows.hasNext(); rows.next()) n++;
            return n;
        }
    }

    /** For tests and a clean shutdown: close this JVM's producers. */
    static void closeAll() {
        PRODUCERS.values().forEach(KafkaProducer::close);
        PRODUCERS.clear();
        AnswerTransaction.closeAll();
    }
}
