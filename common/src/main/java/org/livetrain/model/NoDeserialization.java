package org.livetrain.model;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.ObjectInputFilter;

/**
 * The second line of defence around reading a model (the first is {@link ModelZip}): while a thread reads
 * one, Java deserialization on that thread refuses every class, before any of it is read. This is the JVM's
 * deserialization filter, installed once, saying "rejected" on a thread inside {@link #during} and nothing
 * on any other thread, which is what no filter says: Spark's own Java serialization is untouched. A JVM has
 * one such filter; when another was set first ({@code -Djdk.serialFilter}), that one stands and this one is
 * not installed, which is said once.
 */
public final class NoDeserialization {
    private static final Logger LOG = LoggerFactory.getLogger(NoDeserialization.class);
    private static final ThreadLocal<Boolean> READING = ThreadLocal.withInitial(() -> false);
    private static final boolean INSTALLED = install();

    private NoDeserialization() {
    }

    /** A read that must not deserialize anything. */
    public interface Read<T> {
        T run() throws IOException;
    }

    /** Runs {@code read} on this thread with Java deserialization refused. */
    public static <T> T during(Read<T> read) throws IOException {
        if (READING.get()) return read.run();
        READING.set(true);
        try {
            return read.run();
        } finally {
            READING.set(false);
        }
    }

    /** Whether the filter is in place (false only when the JVM already had another). */
    public static boolean installed() {
        return INSTALLED;
    }

    private static boolean install() {
        ObjectInputFilter filter = info -> READING.get() ? ObjectInputFilter.Status.REJECTED : ObjectInputFilter.Status.UNDECIDED;
        try {
            ObjectInputFilter.Config.setSerialFilter(filter);
            return true;
        } catch (IllegalStateException e) {
            LOG.warn("this JVM has a deserialization filter already ({}); model files are still checked entry by entry, but Java deserialization"
                    + " is not refused while one is read", ObjectInputFilter.Config.getSerialFilter());
            return false;
        }
    }
}
