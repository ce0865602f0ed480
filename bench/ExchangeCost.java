// What the summation service costs per value on one machine, without any network shaping: one server and one
// worker on 127.0.0.1, the worker push-pulling a whole gradient (in the trainer's chunks) round after round,
// for fp32, fp16 and encrypted fp32, measured side by side in one JVM. A value is handled four times per
// round (the worker encodes it, the server decodes and adds it and encodes the answer, the worker decodes
// it), so ns per value handled = round time / (4 x values): the figure bench/scaling.py fits as c, here
// without the emulated cluster's veths, bridge, shaping and delay queue. Also timed: one plain copy of the
// gradient (System.arraycopy) as the floor.
// Run by bench/exchange-cost.sh (single-file source launch on the application's classpath).
import org.livetrain.ps.Compression;
import org.livetrain.ps.Credentials;
import org.livetrain.ps.KeySpace;
import org.livetrain.ps.SummationClient;
import org.livetrain.ps.SummationServer;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;

public class ExchangeCost {
    static final int KEY = 1, CHUNK = 262_144 / 4; // the trainer's default partition: 256 KiB of float32

    public static void main(String[] args) throws Exception {
        int values = Integer.parseInt(args[0]), rounds = Integer.parseInt(args[1]);
        float[] gradient = new float[values];
        Random rnd = new Random(7);
        for (int i = 0; i < values; i++) gradient[i] = (float) (rnd.nextGaussian() * 1e-3);
        System.out.printf("%,d values, %d rounds after %d of warm-up; chunks of %,d values%n", values, rounds, rounds / 2, CHUNK);
        System.out.printf("%-5s %-16s %12s %18s%n", "pass", "mode", "ms / round", "ns / value handled");
        for (int pass = 1; pass <= 3; pass++) { // the JIT compiles the codec during the first pass: read the last
            for (String mode : List.of("fp32", "fp16", "fp32 encrypted")) {
                double ms = roundMs(gradient, mode, rounds);
                System.out.printf("%-5d %-16s %12.2f %18.2f%n", pass, mode, ms, ms * 1e6 / (4.0 * values));
            }
        }
        float[] copy = new float[values];
        long t0 = System.nanoTime();
        for (int r = 0; r < rounds * 10; r++) System.arraycopy(gradient, 0, copy, 0, values);
        double ms = (System.nanoTime() - t0) / 1e6 / (rounds * 10);
        System.out.printf("%-5s %-16s %12.2f %18.2f%n", "", "arraycopy", ms, ms * 1e6 / values);
    }

    /** Mean milliseconds of one push-pull of the whole gradient, after a warm-up of half as many rounds. */
    static double roundMs(float[] gradient, String mode, int rounds) throws Exception {
        Compression c = mode.startsWith("fp16") ? Compression.FP16 : Compression.NONE;
        Credentials key = Credentials.derive("bench-secret".getBytes(StandardCharsets.UTF_8), "bench-job", mode.endsWith("encrypted"));
        KeySpace keys = KeySpace.tensor(KEY, gradient.length, CHUNK);
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        try (SummationServer server = new SummationServer(loopback, 0, key, 1, keys, Duration.ofSeconds(30));
             SummationClient client = new SummationClient(List.of(server.address()), key, 0, 1, Duration.ofSeconds(30))) {
            float[] data = gradient.clone();
            long start = 0;
            for (int r = 0; r < rounds + rounds / 2; r++) {
                if (r == rounds / 2) start = System.nanoTime();
                System.arraycopy(gradient, 0, data, 0, data.length);
                client.pushPull(data, KEY, r, CHUNK, c);
            }
            double ms = (System.nanoTime() - start) / 1e6 / rounds;
            for (int i = 0; i < data.length; i++) { // one worker: the sum is its own gradient (fp16: rounded)
                double tolerance = c == Compression.FP16 ? 1e-3 * Math.abs(gradient[i]) + 1e-7 : 0;
                if (Math.abs(data[i] - gradient[i]) > tolerance) throw new IllegalStateException(mode + ": value " + i + " came back as " + data[i]);
            }
            return ms;
        }
    }
}
