package org.livetrain.ps;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.Batches;
import org.livetrain.data.Dataset;
import org.livetrain.data.LabeledImage;
import org.livetrain.model.Models;
import org.livetrain.model.Network;
import org.nd4j.linalg.dataset.DataSet;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What someone capturing the network sees: tcpdump on the loopback while two workers push and pull a real
 * LeNet gradient through a summation server. In clear, a 64-byte window of the gradient is in the capture
 * (so the search works); encrypted (as with spark.network.crypto.enabled), neither the gradient nor the sum
 * that comes back is, and the sum is still right.
 */
@Tag("slow")
class EncryptedWireTest {
    private static final byte[] SECRET = "spark-secret".getBytes(StandardCharsets.UTF_8);

    @TempDir
    Path dir;

    @Test
    void anEncryptedExchangeShowsNoGradientBytesOnTheWire() throws Exception {
        assumeTrue(new File("/usr/bin/tcpdump").canExecute() || new File("/usr/sbin/tcpdump").canExecute(),
                "tcpdump is not installed (.ci/run installs Debian's tcpdump)");
        float[] gradient = lenetGradient();
        byte[] clear = capture(gradient, false);
        assumeTrue(clear != null, "tcpdump cannot capture on the loopback here (it needs root or CAP_NET_RAW)");
        byte[] encrypted = capture(gradient, true);
        byte[] window = bigEndian(gradient, firstVaried(gradient), 16);
        float[] doubled = gradient.clone();
        for (int i = 0; i < doubled.length; i++) doubled[i] *= 2;
        byte[] sumWindow = bigEndian(doubled, firstVaried(gradient), 16);
        assertTrue(indexOf(clear, window) >= 0, "in clear, the gradient's bytes are in the capture (" + clear.length + " bytes)");
        assertTrue(indexOf(clear, sumWindow) >= 0, "in clear, the sum's bytes are in the capture");
        assertTrue(encrypted.length > gradient.length * 4L * 2, "the encrypted capture holds the exchange (" + encrypted.length + " bytes)");
        assertFalse(indexOf(encrypted, window) >= 0, "encrypted, the gradient's bytes are nowhere in the capture");
        assertFalse(indexOf(encrypted, sumWindow) >= 0, "encrypted, the sum's bytes are nowhere in the capture");
    }

    /** Two workers push {@code gradient} each and pull the sum, under tcpdump; returns the capture, or null when tcpdump cannot capture. */
    private byte[] capture(float[] gradient, boolean encrypt) throws Exception {
        Credentials key = Credentials.derive(SECRET, "capture-test", encrypt);
        int chunk = 16 * 1024;
        try (SummationServer server = new SummationServer(InetAddress.getLoopbackAddress(), 0, key, 2,
                KeySpace.tensor(0, gradient.length, chunk), Duration.ofSeconds(30))) {
            Path pcap = dir.resolve((encrypt ? "encrypted" : "clear") + ".pcap");
            Process dump = new ProcessBuilder("tcpdump", "-i", "lo", "-s", "0", "-U", "-n", "-w", pcap.toString(), "tcp port " + server.address().getPort())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("tcpdump.log").toFile()).start();
            try {
                if (!listening(dump)) return null;
                List<float[]> sums = new ArrayList<>();
                try (SummationClient a = new SummationClient(List.of(server.address()), key, 0, 2, Duration.ofSeconds(30));
                     SummationClient b = new SummationClient(List.of(server.address()), key, 1, 2, Duration.ofSeconds(30))) {
                    float[] mine = gradient.clone(), theirs = gradient.clone();
                    CompletableFuture<Void> other = CompletableFuture.runAsync(() -> b.pushPull(theirs, 0, 0, chunk, Compression.NONE));
                    a.pushPull(mine, 0, 0, chunk, Compression.NONE);
                    other.get(30, TimeUnit.SECONDS);
                    sums.add(mine);
                    sums.add(theirs);
                }
                for (float[] s : sums) {
                    for (int i = 0; i < s.length; i++) assertTrue(s[i] == 2 * gradient[i], "the sum is right at " + i + (encrypt ? ", encrypted" : ""));
                }
                Thread.sleep(500); // the last packets reach the capture file (-U writes each packet at once)
            } finally {
                dump.destroy();
                dump.waitFor(10, TimeUnit.SECONDS);
            }
            return Files.readAllBytes(pcap);
        }
    }

    /** Waits until tcpdump says it is listening; false when it ended instead (no permission, no such interface). */
    private boolean listening(Process dump) throws Exception {
        Path log = dir.resolve("tcpdump.log");
        for (int i = 0; i < 100; i++) {
            if (Files.exists(log) && Files.readString(log).contains("listening on")) return true;
            if (!dump.isAlive()) return false;
            Thread.sleep(100);
        }
        return false;
    }

    /** A real gradient: LeNet on 32 digits. */
    private static float[] lenetGradient() throws IOException {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[32];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        List<LabeledImage> examples = new ArrayList<>();
        digits.pool().read(idx).forEachRemaining(examples::add);
        Network net = Models.create(Models.Kind.LENET, digits.shape(), 10, 1e-3, 7);
        DataSet batch = Batches.toDataSet(examples, 10);
        net.computeGradient(batch.getFeatures(), batch.getLabels());
        return net.gradients().toFloatVector();
    }

    /** The first index from which 16 values are all non-zero and not all equal: a window no other bytes look like. */
    private static int firstVaried(float[] g) {
        outer:
        for (int i = 0; i + 16 <= g.length; i++) {
            for (int k = i; k < i + 16; k++) if (g[k] == 0 || (k > i && g[k] == g[k - 1])) continue outer;
            return i;
        }
        throw new AssertionError("no varied window in the gradient");
    }

    private static byte[] bigEndian(float[] values, int from, int n) {
        ByteBuffer b = ByteBuffer.allocate(n * 4);
        for (int i = from; i < from + n; i++) b.putFloat(values[i]);
        return b.array();
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int k = 0; k < needle.length; k++) if (haystack[i + k] != needle[k]) continue outer;
            return i;
        }
        return -1;
    }
}
