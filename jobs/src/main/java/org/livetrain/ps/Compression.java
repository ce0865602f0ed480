package org.livetrain.ps;

/** How values travel on the wire: as float32, or halved to IEEE float16 ({@code --compress fp16}). */
public enum Compression {
    NONE(4), FP16(2);

    /** Bytes per value on the wire. */
    final int width;

    Compression(int width) {
        this.width = width;
    }
}
