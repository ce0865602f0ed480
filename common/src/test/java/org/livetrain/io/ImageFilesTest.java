package org.livetrain.io;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scorer's file access against requests that anyone who can write to the topic chooses (issue 13, points 8-10). */
@Tag("fast")
class ImageFilesTest {
    @TempDir
    Path dir;

    @Test
    void aFileSwappedForALinkOutsideTheRootsIsNeverRead() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root")), secret = Files.writeString(dir.resolve("secret.txt"), "SECRET");
        byte[] inside = "inside".getBytes(StandardCharsets.UTF_8);
        Path file = root.resolve("x.png"), plain = Files.write(root.resolve(".plain"), inside), link = root.resolve(".link");
        Files.copy(plain, file);
        Files.createSymbolicLink(link, secret);
        ImageFiles files = ImageFiles.within(List.of(root.toString()), 1 << 20);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Exception> swapFailed = new AtomicReference<>();
        Thread swapper = new Thread(() -> { // the attacker: x.png is a file one moment, a link out of the root the next
            try {
                while (!stop.get()) {
                    Files.copy(link, root.resolve(".next"), StandardCopyOption.REPLACE_EXISTING, LinkOption.NOFOLLOW_LINKS);
                    Files.move(root.resolve(".next"), file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    Files.copy(plain, root.resolve(".next"), StandardCopyOption.REPLACE_EXISTING);
                    Files.move(root.resolve(".next"), file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (Exception e) {
                swapFailed.set(e);
            }
        });
        swapper.start();
        int read = 0, refused = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        try { // until both sides of the race were seen often (a busy machine may deschedule the swapper for a while)
            while ((read + refused < 3000 || read < 100 || refused < 100) && System.nanoTime() < deadline && swapFailed.get() == null) {
                try {
                    byte[] b = files.read("x.png", file);
                    assertArrayEquals(inside, b, "only the file inside the root is ever read");
                    read++;
                } catch (LiveTrainException e) {
                    assertEquals("x.png: no such file in the allowed roots", e.getMessage());
                    refused++;
                }
            }
        } finally {
            stop.set(true);
            swapper.join();
        }
        assertEquals(null, swapFailed.get(), "the swapper ran");
        System.out.printf("[symlink swap] %d reads of the file inside, %d refusals, 0 reads of the secret%n", read, refused);
        assertTrue(read > 0 && refused > 0, "the race was run: " + read + " reads, " + refused + " refusals");
    }

    @Test
    void aHugeSparseFileIsRefusedFromItsSizeWithoutReadingIt() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Path huge = root.resolve("huge.png");
        try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(3L << 30); // 3 GB, no block written
        }
        ImageFiles files = ImageFiles.within(List.of(root.toString()), 64L << 20);
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> files.read(huge.toString(), huge));
        assertEquals(huge + ": 3221225472 bytes, more than the limit of 67108864", e.getMessage());
        LiveTrainException anywhere = assertThrows(LiveTrainException.class, () -> ImageFiles.anywhere(64L << 20).read("huge.png", huge));
        assertTrue(anywhere.getMessage().contains("more than the limit"), anywhere.getMessage());
    }

    @Test
    void outsideTheRootsAndMissingGetTheSameAnswer() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Path exists = Files.writeString(dir.resolve("exists.png"), "x");
        ImageFiles files = ImageFiles.within(List.of(root.toString()), 1 << 20);
        String a = assertThrows(LiveTrainException.class, () -> files.read("p", exists)).getMessage();
        String b = assertThrows(LiveTrainException.class, () -> files.read("p", dir.resolve("missing.png"))).getMessage();
        String c = assertThrows(LiveTrainException.class, () -> files.read("p", root.resolve("missing.png"))).getMessage();
        assertEquals("p: no such file in the allowed roots", a);
        assertEquals(a, b);
        assertEquals(a, c);
    }

    /** A remote root admits only URIs below it: same scheme and authority, no . or .. (decided before any file system is asked). */
    @Test
    void aUriRootAdmitsOnlyWhatLiesBelowIt() throws Exception {
        Path local = Files.createDirectories(dir.resolve("root"));
        Files.writeString(local.resolve("x.png"), "inside");
        ImageFiles files = ImageFiles.within(List.of("hdfs://nn.example:8020/images/", local.toString()), 1 << 20);
        for (String uri : List.of("hdfs://nn.example:8020/images/../secret.png", "hdfs://nn.example:8020/images/./a/../../b.png", "hdfs://nn.example:8020/imagesX/a.png",
                "hdfs://other:8020/images/a.png", "s3a://nn.example:8020/images/a.png", "hdfs://nn.example:8020/images", "hdfs://nn.example:8020/other/a.png")) {
            assertEquals(uri + ": no such file in the allowed roots", assertThrows(LiveTrainException.class, () -> files.read(uri, uri)).getMessage());
        }
        assertArrayEquals("inside".getBytes(StandardCharsets.UTF_8), files.read("f", "file:" + local.resolve("x.png")), "a file: URI is a local path");
        assertArrayEquals("inside".getBytes(StandardCharsets.UTF_8), files.read("f", "file://" + local.resolve("x.png")));
        assertEquals("f: no such file in the allowed roots", assertThrows(LiveTrainException.class, () -> files.read("f", "file:" + dir.resolve("secret.txt"))).getMessage());
    }
}
