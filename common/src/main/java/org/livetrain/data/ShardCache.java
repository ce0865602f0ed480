package org.livetrain.data;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;

/**
 * One worker's shard of prepared examples, read once (the first pass) and kept for every epoch: in memory
 * when the whole shard fits the memory budget, otherwise spread at random over bucket files on local disk,
 * each about a quarter of the budget. An epoch visits the buckets in random order, shuffles each bucket in
 * memory, and reads the next bucket while the current one is trained on; with memory, the whole shard is
 * shuffled at once. A bucket file, written and read only by this class in a folder of its own:
 * <pre>
 * per example, big-endian: int index, int label, int length, float[length] pixels
 * </pre>
 * read back with the length checked against the shard's (every example of a data set has the same shape).
 */
public final class ShardCache implements AutoCloseable {
    /** Bytes an example costs beyond its pixels: the record, its array header, a list slot. */
    static final int OVERHEAD = 64;

    private final List<LabeledImage> memory;
    private final Path dir;
    private final List<Bucket> buckets;

    /** A bucket file and how many examples it holds. */
    private record Bucket(Path file, int count) {
    }
    private final int size, pixels;

    private ShardCache(List<LabeledImage> memory, Path dir, List<Bucket> buckets, int size, int pixels) {
        this.memory = memory;
        this.dir = dir;
        this.buckets = buckets;
        this.size = size;
        this.pixels = pixels;
    }

    /**
     * Keeps {@code count} examples (fewer if the stream ends early) within {@code budget} bytes of heap, spilling
     * to bucket files under {@code spillRoot} when they would not fit; {@code seed} decides each example's bucket.
     */
    public static ShardCache of(Iterator<LabeledImage> examples, int count, long budget, Path spillRoot, long seed) throws IOException {
        if (!examples.hasNext()) return new ShardCache(List.of(), null, List.of(), 0, 0);
        LabeledImage first = examples.next();
        long each = (long) first.pixels().length * Float.BYTES + OVERHEAD;
        if (each * count <= budget) {
            List<LabeledImage> kept = new ArrayList<>(count);
            kept.add(first);
            examples.forEachRemaining(kept::add);
            return new ShardCache(kept, null, List.of(), kept.size(), first.pixels().length);
        }
        int n = (int) Math.max(2, (each * count + budget / 4 - 1) / Math.max(1, budget / 4));
        return spill(first, examples, n, spillRoot, new Random(seed));
    }

    private static ShardCache spill(LabeledImage first, Iterator<LabeledImage> rest, int n, Path spillRoot, Random rnd) throws IOException {
        Files.createDirectories(spillRoot);
        Path dir = Files.createTempDirectory(spillRoot, "livetrain-shard-");
        List<Path> files = new ArrayList<>(n);
        List<DataOutputStream> out = new ArrayList<>(n);
        int size = 0, pixels = first.pixels().length;
        int[] counts = new int[n];
        try {
            for (int b = 0; b < n; b++) {
                files.add(dir.resolve("bucket-" + b));
                out.add(new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(files.get(b)), 1 << 16)));
            }
            for (LabeledImage e = first; e != null; e = rest.hasNext() ? rest.next() : null, size++) {
                int b = rnd.nextInt(n);
                write(out.get(b), e);
                counts[b]++;
            }
            for (DataOutputStream o : out) o.close();
        } catch (IOException | RuntimeException e) {
            for (DataOutputStream o : out) close(o);
            delete(dir);
            throw e;
        }
        List<Bucket> buckets = new ArrayList<>(n);
        for (int b = 0; b < n; b++) buckets.add(new Bucket(files.get(b), counts[b]));
        return new ShardCache(null, dir, buckets, size, pixels);
    }

    private static void write(DataOutputStream out, LabeledImage e) throws IOException {
        out.writeInt(e.index());
        out.writeInt(e.label());
        out.writeInt(e.pixels().length);
        for (float f : e.pixels()) out.writeFloat(f);
    }

    /** Examples kept. */
    public int size() {
        return size;
    }

    /** Whether the shard went to local disk. */
    public boolean spilled() {
        return dir != null;
    }

    /** Every example once, in an order drawn from {@code rnd}. */
    public Iterator<LabeledImage> epoch(Random rnd) {
        if (!spilled()) {
            List<LabeledImage> order = new ArrayList<>(memory);
            Collections.shuffle(order, rnd);
            return order.iterator();
        }
        List<Bucket> order = new ArrayList<>(buckets);
        Collections.shuffle(order, rnd);
        return new Buckets(order, rnd.nextLong());
    }

    /** The buckets of one epoch, each shuffled, the next read while the current one is consumed. */
    private final class Buckets implements Iterator<LabeledImage> {
        private final Iterator<Bucket> files;
        private final Random rnd;
        private CompletableFuture<List<LabeledImage>> next;
        private Iterator<LabeledImage> current = Collections.emptyIterator();

        Buckets(List<Bucket> order, long seed) {
            this.files = order.iterator();
            this.rnd = new Random(seed);
            this.next = readNext();
        }

        private CompletableFuture<List<LabeledImage>> readNext() {
            if (!files.hasNext()) return null;
            Bucket b = files.next();
            return CompletableFuture.supplyAsync(() -> read(b));
        }

        @Override
        public boolean hasNext() {
            while (!current.hasNext() && next != null) {
                List<LabeledImage> bucket = join(next);
                next = readNext();
                Collections.shuffle(bucket, rnd);
                current = bucket.iterator();
            }
            return current.hasNext();
        }

        @Override
        public LabeledImage next() {
            if (!hasNext()) throw new NoSuchElementException();
            return current.next();
        }
    }

    private static List<LabeledImage> join(CompletableFuture<List<LabeledImage>> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading the shard's next bucket", e);
        }
    }

    private List<LabeledImage> read(Bucket b) {
        Path f = b.file();
        List<LabeledImage> out = new ArrayList<>(b.count());
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(f), 1 << 16))) {
            for (int k = 0; k < b.count(); k++) {
                int index = in.readInt(), label = in.readInt(), length = in.readInt();
                if (length != pixels || label < 0) throw new IOException(f + ": example " + index + " has " + length + " pixels and label " + label);
                float[] p = new float[length];
                for (int i = 0; i < length; i++) p[i] = in.readFloat();
                out.add(new LabeledImage(index, label, p));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("the shard's bucket " + f + " cannot be read back", e);
        }
        return out;
    }

    @Override
    public void close() {
        if (dir != null) delete(dir);
    }

    private static void close(DataOutputStream o) {
        try {
            o.close();
        } catch (IOException ignored) {
            // the folder is deleted next
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a folder left in Spark's local directory goes with the executor
        }
    }
}
