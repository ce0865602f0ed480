package org.livetrain.jobs;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.kafka.LocalKafkaBroker;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lists this process's listening TCP sockets (its socket inodes from /proc/self/fd, matched in
 * /proc/self/net/tcp and tcp6) while the local broker runs and a BytePS training run with a dedicated
 * summation server, Spark's driver, block manager and UI is under way: none may listen on all
 * interfaces, and in local mode all of them listen on loopback.
 */
@Tag("slow")
class ListeningSocketsTest {
    @TempDir
    Path dir;

    record Listener(String address, int port) {
        boolean loopback() {
            return address.startsWith("127.") || address.equals("::1") || address.startsWith("::ffff:127.");
        }

        @Override
        public String toString() {
            return address + ":" + port;
        }
    }

    static Set<Listener> listeners() throws IOException {
        Set<String> inodes = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) inodes.add(target.substring(8, target.length() - 1));
                } catch (IOException e) {
                    // the descriptor closed while listing
                }
            }
        }
        Set<Listener> out = new HashSet<>();
        for (String table : List.of("tcp", "tcp6")) {
            List<String> lines = Files.readAllLines(Path.of("/proc/self/net/" + table));
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (!f[3].equals("0A") || !inodes.contains(f[9])) continue; // 0A = LISTEN
                String[] local = f[1].split(":");
                out.add(new Listener(address(local[0]), Integer.parseInt(local[1], 16)));
            }
        }
        return out;
    }

    /** /proc/net's hex address: IPv4 as one little-endian word, IPv6 as four. */
    static String address(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int w = 0; w < b.length / 4; w++) {
            for (int k = 0; k < 4; k++) {
                b[w * 4 + k] = (byte) Integer.parseInt(hex.substring(w * 8 + (3 - k) * 2, w * 8 + (3 - k) * 2 + 2), 16);
            }
        }
        try {
            String s = InetAddress.getByAddress(b).getHostAddress();
            if (b.length == 16 && b[10] == (byte) 0xff && b[11] == (byte) 0xff && s.indexOf(':') < 0) return "::ffff:" + s;
            return s.equals("0:0:0:0:0:0:0:1") ? "::1" : s.equals("0:0:0:0:0:0:0:0") ? "::" : s;
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void noListenerOfTrainingServingOrTheBrokerIsOpenToTheNetwork() throws Exception {
        Set<Listener> before = listeners();
        Set<Listener> seen = ConcurrentHashMap.newKeySet();
        AtomicBoolean done = new AtomicBoolean();
        Thread sampler = new Thread(() -> {
            while (!done.get()) {
                try {
                    seen.addAll(listeners());
                    Thread.sleep(100);
                } catch (IOException | InterruptedException e) {
                    return;
                }
            }
        });
        try (LocalKafkaBroker broker = new LocalKafkaBroker(0, dir.resolve("kafka"))) {
            sampler.start();
            Cli r = Cli.run("train", "--servers", "1", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", dir.resolve("ckpt").toString());
            assertEquals(0, r.exitCode(), r.err());
            int brokerPort = Integer.parseInt(broker.bootstrapServers().substring(broker.bootstrapServers().lastIndexOf(':') + 1));
            assertTrue(seen.stream().anyMatch(l -> l.port() == brokerPort), "the broker's listener was seen: " + seen);
        } finally {
            done.set(true);
            sampler.join();
        }
        Set<Listener> fresh = new HashSet<>(seen);
        fresh.removeAll(before);
        // the broker (client and controller listeners), Spark's driver RPC, block manager and UI, and the
        // summation server
        assertTrue(fresh.size() >= 6, "listeners opened during the run: " + fresh);
        String open = seen.stream().filter(l -> !l.loopback()).map(Listener::toString).sorted().collect(Collectors.joining(", "));
        assertEquals("", open, "listeners not on loopback (all seen: " + seen + ")");
    }
}
