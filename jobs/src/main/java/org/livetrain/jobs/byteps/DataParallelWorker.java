package org.livetrain.jobs.byteps;

import org.livetrain.LiveTrainException;
import org.livetrain.model.Network;
import org.livetrain.ps.Compression;
import org.livetrain.ps.KeySpace;
import org.livetrain.ps.PushPull;
import org.livetrain.ps.SummationClient;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.zip.CRC32;

/**
 * One BytePS-style worker around a DL4J network: compute the gradient of the local mini-batch, sum it
 * over all workers through the summation service, and apply the network's own updater to the sum, so
 * that every replica takes the same step (synchronous data parallelism; the servers never run the
 * optimizer). DL4J's raw gradient is a sum over the mini-batch, so the updater divides the global sum
 * by the global batch: {@code workers x local batch} examples make one step.
 */
public final class DataParallelWorker {
    /** Keys of the gradient chunks start here; evaluation counts use their own key. */
    static final int GRADIENT_KEYS = 0;
    static final int EVAL_KEY = Integer.MAX_VALUE - 1;
    static final int CHECKSUM_KEY = Integer.MAX_VALUE - 2;

    private final Network net;
    /** Ranges of the flat gradient that hold running statistics (batch normalisation): averaged over the workers, not summed. */
    private final List<long[]> averaged;
    private final PushPull ps;
    private final int workers;
    private final int chunkFloats;
    private final Compression compression;
    private long steps;
    private long evals;
    private long computeNanos, exchangeNanos, applyNanos;
    private double computeSquaredMs; // sum of each step's compute time squared, in ms^2: the spread of compute times

    public DataParallelWorker(Network net, PushPull ps, int workers, int partitionBytes, Compression compression, long step) {
        this.net = net;
        this.averaged = net.runningStatistics();
        this.ps = ps;
        this.workers = workers;
        this.chunkFloats = chunkFloats(partitionBytes);
        this.compression = compression;
        this.steps = step;
    }

    static int chunkFloats(int partitionBytes) {
        return Math.max(1, partitionBytes / 4);
    }

    /** Every key the workers use and its length: the gradient's chunks, the evaluation counts, the checksums. */
    public static KeySpace keySpace(long params, int partitionBytes, int workers, boolean async) {
        KeySpace k = KeySpace.tensor(GRADIENT_KEYS, params, chunkFloats(partitionBytes)).plus(EVAL_KEY, 4).plus(CHECKSUM_KEY, 2 * workers);
        return async ? k.withWeights() : k;
    }

    public Network network() {
        return net;
    }

    /** One synchronous step on the local mini-batch; every worker's batch must have the same size. */
    public void step(DataSet local) {
        long t0 = System.nanoTime();
        computeGradient(local);
        float[] g = net.gradients().toFloatVector();
        long t1 = System.nanoTime();
        ps.pushPull(g, GRADIENT_KEYS, steps, chunkFloats, compression);
        requireFinite(g, "the gradient summed over the workers");
        averageRunningStatistics(g);
        long t2 = System.nanoTime();
        INDArray view = net.gradients();
        copyInto(view, g);
        int iteration = net.iteration();
        net.applyUpdater(local.numExamples() * workers);
        net.params().subi(view);
        finishStep(iteration, t0, t1, t2);
    }

    /**
     * Asynchronous mode (--async): the servers hold the weights. Worker 0 seeds them with its replica's
     * parameters (every replica starts from the same seed); every worker takes them back, the others
     * waiting until they are there.
     */
    public void startAsync(int worker) {
        float[] params = net.params().toFloatVector();
        if (worker == 0) {
            ps.pushPull(params, GRADIENT_KEYS, SummationClient.WEIGHTS, chunkFloats, Compression.NONE);
        } else {
            ps.pullInto(params, GRADIENT_KEYS, SummationClient.WEIGHTS, chunkFloats, Compression.NONE);
        }
        copyInto(net.params(), params);
    }

    /**
     * One asynchronous step: the updater turns the local gradient into this worker's own step, which is
     * added to the servers' weights; the worker continues from the weights as they are right after,
     * including whatever the other workers added meanwhile. No worker waits for another.
     */
    public void stepAsync(DataSet local) {
        long t0 = System.nanoTime();
        computeGradient(local);
        INDArray view = net.gradients();
        int iteration = net.iteration();
        net.applyUpdater(local.numExamples());
        float[] delta = view.neg().toFloatVector(); // the step this worker would take: params -= update
        long t1 = System.nanoTime();
        ps.pushPull(delta, GRADIENT_KEYS, SummationClient.WEIGHTS, chunkFloats, compression);
        requireFinite(delta, "the weights held by the servers");
        long t2 = System.nanoTime();
        copyInto(net.params(), delta);
        finishStep(iteration, t0, t1, t2);
    }

    /**
     * Copies values into one of the network's flattened arrays (parameters, gradients) in place: no native
     * array is created per step, which would only be freed once the collector came across its Java object.
     */
    static void copyInto(INDArray flat, float[] values) {
        if (flat.dataType() != DataType.FLOAT || flat.length() != values.length || flat.data().length() != values.length || flat.offset() != 0) {
            throw new IllegalStateException("expected a whole float buffer of " + values.length + " values, got " + flat.length() + " " + flat.dataType() + " values");
        }
        flat.data().asNioFloat().put(values);
    }

    /**
     * Batch normalisation's running mean and variance change by an amount computed from each worker's own
     * mini-batch (DL4J keeps that change where the gradient would be, and its updater neither scales nor
     * divides it). The sum over W workers would move the estimate W times; their mean moves it once, by the
     * change the mean of the workers' batch statistics asks for, as one machine's step would. Every replica
     * applies the same mean, so the replicas stay identical. (The statistics that normalise a mini-batch in
     * training are each worker's own, as in DL4J's and Horovod's data-parallel training without synchronised
     * batch normalisation.)
     */
    private void averageRunningStatistics(float[] summed) {
        for (long[] r : averaged) {
            for (int i = (int) r[0]; i < r[1]; i++) summed[i] /= workers;
        }
    }

    /**
     * A NaN or an infinity in what came back would reach every replica alike (their checksums still agree):
     * the step fails, and the run with it, before such a model is published. A retry would meet it again.
     */
    private void requireFinite(float[] values, String what) {
        for (float v : values) {
            if (!Float.isFinite(v)) {
                throw new LiveTrainException("step " + steps + ": " + what + " is not finite (NaN or infinity); the run stops before"
                        + " such a model is published (a lower --learning-rate may help)");
            }
        }
    }

    /** Advances the iteration count (Adam's bias correction depends on it) and accounts the step's time. */
    private void finishStep(int iteration, long t0, long t1, long t2) {
        net.iteration(iteration + 1);
        steps++;
        long t3 = System.nanoTime();
        computeNanos += t1 - t0;
        computeSquaredMs += Math.pow((t1 - t0) / 1e6, 2);
        exchangeNanos += t2 - t1;
        applyNanos += t3 - t2;
    }

    /** The gradient of the local mini-batch (a sum over its examples) into the network's gradient view; parameters untouched. */
    private void computeGradient(DataSet local) {
        net.computeGradient(local.getFeatures(), local.getLabels());
    }

    public long steps() {
        return steps;
    }

    /** The loss of the last local mini-batch. */
    public double score() {
        return net.score();
    }

    /** An evaluation, summed over all workers: dev accuracy and loss, and the mean of the workers' train losses. */
    public record Evaluation(double devAccuracy, double devLoss, double trainLoss) {
    }

    /**
     * Nanoseconds spent in each part of a step: computing the gradient, pushing and pulling it, applying the
     * update; and the sum of the squared compute times (ms^2), for their spread.
     */
    public record Timing(long computeNanos, long exchangeNanos, long applyNanos, double computeSquaredMs) {
        public Timing since(Timing earlier) {
            return new Timing(computeNanos - earlier.computeNanos, exchangeNanos - earlier.exchangeNanos, applyNanos - earlier.applyNanos,
                    computeSquaredMs - earlier.computeSquaredMs);
        }

        public long totalNanos() {
            return computeNanos + exchangeNanos + applyNanos;
        }

        /** The standard deviation of the compute time of the {@code steps} steps timed here, in ms. */
        public double computeSdMs(long steps) {
            if (steps < 2) return 0;
            double mean = computeNanos / 1e6 / steps;
            return Math.sqrt(Math.max(0, (computeSquaredMs - steps * mean * mean) / (steps - 1)));
        }
    }

    /**
     * Scores this worker's slice of the dev split and sums the counts (correct, examples, loss, this worker's
     * {@code trainLoss}) over all workers through the servers.
     */
    public Evaluation evaluate(List<DataSet> devSlice, double trainLoss) {
        float[] counts = new float[4];
        for (DataSet ds : devSlice) {
            INDArray out = net.output(ds.getFeatures());
            INDArray predicted = out.argMax(1), actual = ds.getLabels().argMax(1);
            counts[0] += predicted.eq(actual).castTo(DataType.INT).sumNumber().floatValue();
            counts[1] += ds.numExamples();
            counts[2] += (float) (net.score(ds) * ds.numExamples());
        }
        counts[3] = (float) trainLoss;
        ps.pushPull(counts, EVAL_KEY, evals++, 4, Compression.NONE);
        return new Evaluation(counts[0] / (double) counts[1], counts[2] / (double) counts[1], counts[3] / (double) workers);
    }

    /** A checksum of the parameters: replicas must agree bit for bit. */
    public long parameterChecksum() {
        float[] p = net.params().toFloatVector();
        CRC32 crc = new CRC32();
        ByteBuffer b = ByteBuffer.allocate(p.length * 4);
        b.asFloatBuffer().put(p);
        crc.update(b);
        return crc.getValue();
    }

    /**
     * Every worker's parameter checksum, exchanged through the servers: worker w puts its CRC32 in slots
     * 2w and 2w+1 as two 16-bit halves (exact in float32); the sum holds them all.
     */
    public long[] checksums(int worker) {
        long mine = parameterChecksum();
        float[] slots = new float[2 * workers];
        slots[2 * worker] = (float) (mine >>> 16);
        slots[2 * worker + 1] = (float) (mine & 0xffff);
        ps.pushPull(slots, CHECKSUM_KEY, evals, slots.length, Compression.NONE);
        long[] all = new long[workers];
        for (int i = 0; i < workers; i++) all[i] = ((long) slots[2 * i] << 16) | (long) slots[2 * i + 1];
        return all;
    }

    /** The time spent so far in each part of a step. */
    public Timing timing() {
        return new Timing(computeNanos, exchangeNanos, applyNanos, computeSquaredMs);
    }

    /** Time spent computing gradients so far, in nanoseconds. */
    public long computeNanos() {
        return computeNanos;
    }

    /** Time spent pushing and pulling so far (waiting for the slowest worker included), in nanoseconds. */
    public long exchangeNanos() {
        return exchangeNanos;
    }

    public long bytesPushed() {
        return ps.bytesPushed();
    }

    public long bytesPulled() {
        return ps.bytesPulled();
    }
}
