package org.livetrain.ps;

/**
 * What a worker does with a tensor: push it and pull the result back into it, or only pull. A
 * {@link SummationClient} does it over the network; a {@link LocalGroup} member does it through the one
 * task of its JVM that talks to the servers.
 */
public interface PushPull {
    /** Pushes every chunk of {@code data} to keys {@code keyBase, keyBase+1, ...} and pulls the round's result into {@code data}. */
    void pushPull(float[] data, int keyBase, long round, int chunkFloats, Compression c);

    /** Pulls every chunk into {@code data} without pushing (asynchronous mode). */
    void pullInto(float[] data, int keyBase, long round, int chunkFloats, Compression c);

    /** Bytes this worker sent to the servers so far (frames, headers included). */
    long bytesPushed();

    /** Bytes this worker received from the servers so far. */
    long bytesPulled();
}
