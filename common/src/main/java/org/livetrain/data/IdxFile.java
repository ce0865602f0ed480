package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PushbackInputStream;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The IDX format of MNIST and Fashion-MNIST (unsigned bytes only): a big-endian magic number
 * {@code 0x0000 08 <dims>}, one 32-bit size per dimension, then the data. Gzipped files are recognised by
 * their content, not their name. Every problem is reported with the file's name.
 */
public final class IdxFile {
    public static final int UBYTE = 0x08;
    /** Largest header we accept for one dimension: keeps a garbage header from asking for gigabytes. */
    private static final int MAX_DIM = 1 << 28;

    /** The header of an IDX file: its location and dimensions (dims[0] = number of items). */
    public record Header(String location, int[] dims) {
        public int count() {
            return dims[0];
        }

        /** Bytes per item (the product of all dimensions after the first). */
        public long itemBytes() {
            long n = 1;
            for (int i = 1; i < dims.length; i++) n *= dims[i];
            return n;
        }
    }

    private IdxFile() {
    }

    /** Opens a location, transparently gunzipping it, and reads and checks its header. */
    public static Reader open(String location, int expectedDims, Configuration conf) {
        InputStream raw;
        try {
            raw = Storage.open(location, conf);
        } catch (IOException e) {
            throw Storage.problem(location + ": cannot open", e);
        }
        try {
            PushbackInputStream in = new PushbackInputStream(raw, 2);
            int b0 = in.read(), b1 = in.read();
            if (b1 >= 0) in.unread(b1);
            if (b0 >= 0) in.unread(b0);
            InputStream body = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(in, 1 << 16) : in;
            DataInputStream data = new DataInputStream(body);
            int magic;
            try {
                magic = data.readInt();
            } catch (EOFException e) {
                throw new LiveTrainException(location + ": not an IDX file (shorter than its 4-byte magic number)");
            }
            if ((magic >>> 16) != 0 || ((magic >>> 8) & 0xff) != UBYTE) {
                throw new LiveTrainException(String.format("%s: not an unsigned-byte IDX file (magic number 0x%08x, expected 0x000008%02x)",
                        location, magic, expectedDims));
            }
            int dimCount = magic & 0xff;
            if (dimCount != expectedDims) {
                throw new LiveTrainException(String.format("%s: IDX file has %d dimensions (magic 0x%08x), expected %d",
                        location, dimCount, magic, expectedDims));
            }
            int[] dims = new int[dimCount];
            for (int i = 0; i < dimCount; i++) {
                try {
                    dims[i] = data.readInt();
                } catch (EOFException e) {
                    throw new LiveTrainException(location + ": truncated IDX header (dimension " + (i + 1) + " of " + dimCount + " missing)");
                }
                if (dims[i] <= 0 || dims[i] > MAX_DIM) {
                    throw new LiveTrainException(location + ": IDX dimension " + (i + 1) + " is " + Integer.toUnsignedString(dims[i]) + ", not a plausible size");
                }
            }
            return new Reader(new Header(location, dims), data);
        } catch (IOException e) {
            closeQuietly(raw);
            throw new LiveTrainException(location + ": unreadable (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            closeQuietly(raw);
            throw e;
        }
    }

    /** Reads a whole labels file (idx1): one byte per item. */
    public static int[] readLabels(String location, Configuration conf) {
        try (Reader r = open(location, 1, conf)) {
            byte[] bytes = new byte[r.header().count()];
            r.readItems(bytes, 0, bytes.length);
            r.expectEnd();
            int[] labels = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) labels[i] = bytes[i] & 0xff;
            return labels;
        }
    }

    /** Writes unsigned bytes as an IDX file, gzipped when {@code gzip}. */
    public static void write(OutputStream target, int[] dims, byte[] data, boolean gzip) throws IOException {
        long expected = 1;
        for (int d : dims) expected *= d;
        if (expected != data.length) throw new IllegalArgumentException("data has " + data.length + " bytes, dimensions " + Arrays.toString(dims) + " need " + expected);
        OutputStream os = gzip ? new GZIPOutputStream(target, 1 << 16) : target;
        DataOutputStream out = new DataOutputStream(os);
        out.writeInt((UBYTE << 8) | dims.length);
        for (int d : dims) out.writeInt(d);
        out.write(data);
        out.flush();
        if (os instanceof GZIPOutputStream g) g.finish();
        os.flush();
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // nothing to add to the error already being reported
        }
    }

    /** An open IDX file positioned after its header. */
    public static final class Reader implements AutoCloseable {
        private final Header header;
        private final DataInputStream in;
        private long position; // items consumed
        private final byte[] scratch = new byte[1 << 16];

        Reader(Header header, DataInputStream in) {
            this.header = header;
            this.in = in;
        }

        public Header header() {
            return header;
        }

        /** Reads {@code n} whole items into {@code buf}; fails with the file's name if it ends early. */
        public void readItems(byte[] buf, int off, int n) {
            long bytes = n * header.itemBytes();
            try {
                in.readFully(buf, off, Math.toIntExact(bytes));
                position += n;
            } catch (EOFException e) {
                throw truncated();
            } catch (IOException e) {
                throw Storage.problem(header.location() + ": unreadable at item " + position, e);
            }
        }

        /** Skips forward to item {@code index}. */
        public void skipTo(long index) {
            if (index < position) throw new IllegalArgumentException("IDX items must be read in increasing order");
            try {
                // read rather than skip: skip() on a local file happily moves past its end
                long left = (index - position) * header.itemBytes();
                while (left > 0) {
                    int n = (int) Math.min(scratch.length, left);
                    in.readFully(scratch, 0, n);
                    left -= n;
                }
                position = index;
            } catch (EOFException e) {
                throw truncated();
            } catch (IOException e) {
                throw Storage.problem(header.location() + ": unreadable", e);
            }
        }

        /** Checks that the file holds exactly the items its header declares. */
        public void expectEnd() {
            try {
                skipTo(header.count());
                if (in.read() >= 0) {
                    throw new LiveTrainException(header.location() + ": has data after the " + header.count() + " items its header declares");
                }
            } catch (IOException e) {
                throw new LiveTrainException(header.location() + ": unreadable (" + e.getMessage() + ")", e);
            }
        }

        private LiveTrainException truncated() {
            return new LiveTrainException(header.location() + ": truncated: header declares " + header.count()
                    + " items of " + header.itemBytes() + " bytes, the file ends before item " + (position + 1));
        }

        @Override
        public void close() {
            try {
                in.close();
            } catch (IOException ignored) {
                // read-only stream
            }
        }
    }
}
