package org.livetrain.io;

import org.livetrain.LiveTrainException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads the image files that requests name, each opened once and read from that handle, never more than
 * {@code maxBytes}. Confined to roots (the Kafka scorer, whose requests anyone who can write to the topic
 * chooses), a path is resolved once and then walked from its root one name at a time without following
 * links ({@link SecureDirectoryStream}, i.e. {@code openat}): a file swapped for a link after the check is
 * refused rather than read. A path outside the roots and a path that does not exist get the same answer,
 * so that requests cannot probe what exists elsewhere.
 */
public final class ImageFiles {
    public static final long DEFAULT_MAX_BYTES = 64L << 20;
    private final List<Path> roots;
    private final long maxBytes;

    private ImageFiles(List<Path> roots, long maxBytes) {
        if (maxBytes < 1 || maxBytes > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("max bytes " + maxBytes + ": between 1 and " + (Integer.MAX_VALUE - 8));
        this.roots = roots;
        this.maxBytes = maxBytes;
    }

    /** Any file this process may read (the prompt: its user types the paths). */
    public static ImageFiles anywhere(long maxBytes) {
        return new ImageFiles(null, maxBytes);
    }

    /** Only files inside {@code roots}; a root that does not exist allows nothing. */
    public static ImageFiles within(List<String> roots, long maxBytes) {
        List<Path> real = new ArrayList<>();
        for (String r : roots) {
            try {
                real.add(Path.of(r).toRealPath());
            } catch (IOException | InvalidPathException e) {
                // allows nothing on this host
            }
        }
        return new ImageFiles(real, maxBytes);
    }

    /** The file's bytes; every refusal is a {@link LiveTrainException} naming {@code shown}. */
    public byte[] read(String shown, Path path) {
        if (roots == null) return readAnywhere(shown, path);
        if (!path.isAbsolute()) throw new LiveTrainException(shown + ": not an absolute path");
        Path real;
        try {
            real = path.toRealPath();
        } catch (IOException e) {
            throw outside(shown);
        }
        for (Path root : roots) {
            if (real.equals(root)) throw new LiveTrainException(shown + ": is a directory, not an image");
            if (real.startsWith(root)) return readBelow(shown, root, root.relativize(real));
        }
        throw outside(shown);
    }

    private LiveTrainException outside(String shown) {
        return new LiveTrainException(shown + ": no such file in the allowed roots");
    }

    private byte[] readAnywhere(String shown, Path path) {
        if (Files.isDirectory(path)) throw new LiveTrainException(shown + ": is a directory, not an image");
        try (SeekableByteChannel ch = Files.newByteChannel(path, StandardOpenOption.READ)) {
            return readCapped(shown, ch);
        } catch (NoSuchFileException e) {
            throw new LiveTrainException(shown + ": no such file");
        } catch (AccessDeniedException e) {
            throw new LiveTrainException(shown + ": not readable (permission denied)");
        } catch (IOException e) {
            throw new LiveTrainException(shown + ": unreadable (" + e.getMessage() + ")", e);
        }
    }

    /** Walks from {@code root} through {@code rel} one name at a time, links refused, and reads the regular file at the end. */
    private byte[] readBelow(String shown, Path root, Path rel) {
        try (DirectoryStream<Path> top = Files.newDirectoryStream(root)) {
            if (!(top instanceof SecureDirectoryStream<Path> dir)) return readNoFollow(shown, root.resolve(rel));
            List<SecureDirectoryStream<Path>> opened = new ArrayList<>();
            try {
                SecureDirectoryStream<Path> at = dir;
                for (int i = 0; i < rel.getNameCount() - 1; i++) {
                    at = at.newDirectoryStream(rel.getName(i), LinkOption.NOFOLLOW_LINKS);
                    opened.add(at);
                }
                Path name = rel.getFileName();
                BasicFileAttributes attrs = at.getFileAttributeView(name, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).readAttributes();
                if (attrs.isDirectory()) throw new LiveTrainException(shown + ": is a directory, not an image");
                if (!attrs.isRegularFile()) throw outside(shown);
                try (SeekableByteChannel ch = at.newByteChannel(name, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
                    return readCapped(shown, ch);
                }
            } finally {
                for (SecureDirectoryStream<Path> s : opened) s.close();
            }
        } catch (LiveTrainException e) {
            throw e;
        } catch (IOException e) {
            throw outside(shown); // a link or a vanished name on the way: the same answer as for a path outside
        }
    }

    /** Where the platform has no {@code openat}: the last name is not followed, the rest was checked just before. */
    private byte[] readNoFollow(String shown, Path real) throws IOException {
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) throw outside(shown);
        try (SeekableByteChannel ch = Files.newByteChannel(real, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            return readCapped(shown, ch);
        }
    }

    /** The size comes from the open handle; at most {@code maxBytes} are read whatever it says. */
    private byte[] readCapped(String shown, SeekableByteChannel ch) throws IOException {
        long size = ch.size();
        if (size > maxBytes) throw new LiveTrainException(shown + ": " + size + " bytes, more than the limit of " + maxBytes);
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        while (buf.hasRemaining() && ch.read(buf) >= 0) {
            // fill
        }
        if (buf.hasRemaining()) throw new LiveTrainException(shown + ": changed while it was read");
        return buf.array();
    }
}
