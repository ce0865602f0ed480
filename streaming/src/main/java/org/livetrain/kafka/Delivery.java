package org.livetrain.kafka;

import org.livetrain.LiveTrainException;

import java.util.Arrays;
import java.util.Locale;

/**
 * How often an answer reaches the output topic when the scorer fails and replays a micro-batch.
 * <ul>
 * <li>{@code exactly-once} (the default with micro-batches): each partition of a micro-batch writes its
 * answers in one Kafka transaction together with a marker of the batch ({@link AnswerTransaction}); a
 * consumer reading with {@code isolation.level=read_committed} sees each request answered once.</li>
 * <li>{@code at-least-once}: answers are written as they come; a replayed batch answers its requests again
 * (same request ids). The only mode of continuous processing, whose Kafka sink has no transactions.</li>
 * </ul>
 */
public enum Delivery {
    AT_LEAST_ONCE, EXACTLY_ONCE;

    /** As the command line spells it: {@code at-least-once}, {@code exactly-once}. */
    public String option() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static Delivery parse(String s) {
        for (Delivery d : values()) if (d.option().equals(s)) return d;
        throw new LiveTrainException("--delivery " + s + ": one of " + Arrays.stream(values()).map(Delivery::option).toList());
    }
}
