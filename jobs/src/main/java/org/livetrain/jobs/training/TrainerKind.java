package org.livetrain.jobs.training;

import org.livetrain.LiveTrainException;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The trainers, by their {@code --trainer} names. The training job maps each to its {@link Trainer}. */
public enum TrainerKind {
    /** Workers in one barrier stage summing their gradients through summation servers. */
    BYTEPS,
    /** dl4j-spark's parameter averaging. */
    AVERAGING,
    /** DL4J's gradient sharing (SharedTrainingMaster). */
    SHARED;

    /** The name {@code --trainer} and {@code run.json} use. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return id();
    }

    public static TrainerKind parse(String name) {
        for (TrainerKind k : values()) {
            if (k.id().equals(name)) return k;
        }
        throw new LiveTrainException("--trainer " + name + ": unknown trainer (use "
                + Arrays.stream(values()).map(TrainerKind::id).collect(Collectors.joining(" or ")).replaceFirst(" or ", ", ") + ")");
    }
}
