package org.livetrain.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TransactionAbortedException;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * The answers of one partition of a micro-batch, written exactly once (issue 30). With exactly-once delivery
 * a partition of a micro-batch holds the requests of one input partition (the source is not split further),
 * and one Kafka transaction per micro-batch and input partition carries the answers and a marker of the batch:
 * <pre>
 * | what             | value                                                                                   |
 * | ---------------- | --------------------------------------------------------------------------------------- |
 * | transactional id | livetrain-QUERY-TOPIC-P  (QUERY: the query's id, kept in its checkpoint; TOPIC-P: the    |
 * |                  | input partition, the same whatever order Spark gives a replayed batch's partitions)      |
 * | marker           | the next request offset of TOPIC-P, committed in the same transaction for the consumer  |
 * |                  | group of the same name, with the metadata "livetrain QUERY batch N"                     |
 * | replay check     | first batch after a start, or a retried task: the marker "batch N" on TOPIC-P in that   |
 * |                  | group means the answers are committed already, and the partition writes nothing         |
 * </pre>
 * Failure cases: a crash before the commit leaves an open transaction that the next producer with the same
 * id aborts ({@code initTransactions}); a crash after the commit and before Spark records the batch replays
 * it, and the marker skips it; a second scorer of the same query fences the first (same transactional ids),
 * whose later writes never become visible. An answer the topic refuses for good (too large) aborts the
 * transaction, which is written again with that answer replaced by an error record. Anything else aborts it
 * and fails the task, so the batch is answered again. One producer per transactional id and one admin client
 * per JVM, as long as the JVM runs.
 */
final class AnswerTransaction {
    private static final Map<String, KafkaProducer<String, String>> PRODUCERS = new ConcurrentHashMap<>();
    private static final Map<Map<String, String>, Admin> ADMINS = new ConcurrentHashMap<>();

    /** An answer: the request id (the record key) and its JSON record. */
    record Answer(String key, String value) {
    }

    private final Map<String, String> kafka;
    private final TopicPartition input;
    private final String id;
    private final String marker;

    /**
     * @param kafka the Kafka clients' settings ({@code bootstrap.servers} and the user's properties)
     * @param input the input partition whose requests these are
     */
    AnswerTransaction(Map<String, String> kafka, String queryId, TopicPartition input, long batch) {
        this.kafka = kafka;
        this.input = input;
        this.id = "livetrain-" + queryId + "-" + input.topic() + "-" + input.partition();
        this.marker = "livetrain " + queryId + " batch " + batch;
    }

    /** Whether this input partition's answers of this batch are committed already: the batch is a replay. */
    boolean committed() throws Exception {
        Admin admin = ADMINS.computeIfAbsent(kafka, k -> Admin.create(new HashMap<String, Object>(k)));
        OffsetAndMetadata mark = admin.listConsumerGroupOffsets(id, new ListConsumerGroupOffsetsOptions().requireStable(true))
                .partitionsToOffsetAndMetadata().get(2, TimeUnit.MINUTES).get(input);
        return mark != null && marker.equals(mark.metadata());
    }

    /**
     * Writes the answers and the marker (the input partition's next request offset) in one
     * transaction. Answers the topic refuses for good are replaced by what {@code refused} makes of them
     * (an error record naming why) and the transaction is written again.
     * @return the refused answers' count, and the first refusal
     */
    Refused write(String topic, List<Answer> answers, long next, BiFunction<Answer, String, Answer> refused) throws Exception {
        KafkaProducer<String, String> p = producer();
        try {
            Map<Integer, String> refusals = attempt(p, topic, answers, next);
            if (refusals.isEmpty()) return Refused.NONE;
            List<Answer> replaced = new ArrayList<>(answers);
            refusals.forEach((i, why) -> replaced.set(i, refused.apply(answers.get(i), why)));
            Map<Integer, String> again = attempt(p, topic, replaced, next);
            if (!again.isEmpty()) throw new IllegalStateException("the output topic " + topic + " refused an answer and its error record too (" + again.values().iterator().next() + ")");
            return new Refused(refusals.size(), refusals.values().iterator().next());
        } catch (Exception e) {
            abortOrDrop(p);
            throw e;
        }
    }

    /** How many answers the topic refused for good, and why the first was. */
    record Refused(int count, String why) {
        static final Refused NONE = new Refused(0, null);
    }

    /** One transaction: the answers, then the marker, then the commit; or an abort, naming the answers refused for good. */
    private Map<Integer, String> attempt(KafkaProducer<String, String> p, String topic, List<Answer> answers, long next) throws Exception {
        p.beginTransaction();
        List<Future<RecordMetadata>> acks = new ArrayList<>(answers.size());
        for (Answer a : answers) acks.add(p.send(new ProducerRecord<>(topic, a.key(), a.value())));
        p.flush();
        Map<Integer, String> refused = new TreeMap<>();
        boolean failed = false;
        for (int i = 0; i < acks.size(); i++) {
            try {
                acks.get(i).get();
            } catch (ExecutionException e) {
                if (AnswerBatch.retriable(e)) throw e;
                failed = true;
                // the answers sent after a refused one fail with the transaction: they are sent again as they are
                if (!(e.getCause() instanceof TransactionAbortedException)) refused.put(i, AnswerSender.describe(e.getCause()));
            }
        }
        if (failed) {
            if (refused.isEmpty()) throw new IllegalStateException("the transaction of " + id + " failed without a refused answer");
            p.abortTransaction();
            return refused;
        }
        p.sendOffsetsToTransaction(Map.of(input, new OffsetAndMetadata(next, marker)), new ConsumerGroupMetadata(id));
        p.commitTransaction();
        return Map.of();
    }

    /** This JVM's producer for the transactional id; a new one fences any older one and aborts what it left open. */
    private KafkaProducer<String, String> producer() {
        return PRODUCERS.computeIfAbsent(id, i -> {
            Map<String, Object> c = new HashMap<>(kafka);
            c.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, i);
            c.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            c.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            KafkaProducer<String, String> p = new KafkaProducer<>(c);
            try {
                p.initTransactions();
            } catch (RuntimeException e) {
                p.close();
                throw e;
            }
            return p;
        });
    }

    /** After a failure: the open transaction aborted, or (fenced, or in a state no abort clears) the producer closed and forgotten. */
    private void abortOrDrop(KafkaProducer<String, String> p) {
        try {
            p.abortTransaction();
        } catch (RuntimeException e) {
            PRODUCERS.remove(id, p);
            p.close(Duration.ZERO);
        }
    }

    /** For tests and a clean shutdown: close this JVM's transactional producers and admin clients. */
    static void closeAll() {
        PRODUCERS.values().forEach(KafkaProducer::close);
        PRODUCERS.clear();
        ADMINS.values().forEach(Admin::close);
        ADMINS.clear();
    }
}
