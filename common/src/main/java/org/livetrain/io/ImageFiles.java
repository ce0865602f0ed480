package org.livetrain.io;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.security.AccessControlException;
import org.livetrain.LiveTrainException;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads the image files that requests name, each opened once and read from that handle, never more than
 * {@code maxBytes} (the size is checked from the file's status before anything is read). A request names a
 * local path or a Hadoop URI ({@code file:}, {@code hdfs:}, {@code s3a:}, {@code abfs:}, {@code gs:}, read
 * through the FileSystem with the job's Hadoop configuration).
 *
 * <p>Confined to roots (the Kafka scorer, whose requests anyone who can write to the topic chooses; the
 * prompt with {@code --allowed-roots}): a local path (or {@code file:} URI) is resolved once and then walked
 * from its local root one name at a time without following links ({@link SecureDirectoryStream}, i.e.
 * {@code openat}): a file swapped for a link after the check is refused rather than read. A remote URI is
 * admitted only under a remote root of the same scheme and authority, its path free of {@code .} and
 * {@code ..} names. A path outside the roots and a path that does not exist get the same answer, so that
 * requests cannot probe what exists elsewhere.
 */
public final class ImageFiles {
    public static final long DEFAULT_MAX_BYTES = 64L << 20;
    private static final Pattern SCHEME = Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]+:");
    private final List<Path> roots;
    /** Roots on other file systems than the local one, as URIs without a trailing slash. */
    private final List<URI> remoteRoots;
    private final long maxBytes;
    private final Configuration conf;

    private ImageFiles(List<Path> roots, List<URI> remoteRoots, long maxBytes, Configuration conf) {
        if (maxBytes < 1 || maxBytes > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("max bytes " + maxBytes + ": between 1 and " + (Integer.MAX_VALUE - 8));
        this.roots = roots;
        this.remoteRoots = remoteRoots;
        this.maxBytes = maxBytes;
        this.conf = conf;
    }

    /** Any file this process may read (the prompt: its user types the paths, as at a shell). */
    public static ImageFiles anywhere(long maxBytes, Configuration conf) {
        return new ImageFiles(null, List.of(), maxBytes, conf);
    }

    public static ImageFiles anywhere(long maxBytes) {
        return anywhere(maxBytes, new Configuration());
    }

    /** Only files inside {@code roots} (local paths, {@code file:} or other URIs); a local root that does not exist allows nothing. */
    public static ImageFiles within(List<String> roots, long maxBytes, Configuration conf) {
        List<Path> real = new ArrayList<>();
        List<URI> remote = new ArrayList<>();
        for (String r : roots) {
            try {
                Optional<URI> uri = remote(r);
                if (uri.isPresent()) remote.add(root(uri.get()));
                else real.add(local(r).toRealPath());
            } catch (IOException | IllegalArgumentException e) {
                // allows nothing on this host
            }
        }
        return new ImageFiles(real, remote, maxBytes, conf);
    }

    public static ImageFiles within(List<String> roots, long maxBytes) {
        return within(roots, maxBytes, new Configuration());
    }

    /** A location with a scheme other than {@code file:}, as a URI; empty for a local path or a {@code file:} URI. */
    public static Optional<URI> remote(String location) {
        if (!SCHEME.matcher(location).find() || location.regionMatches(true, 0, "file:", 0, 5)) return Optional.empty();
        return Optional.of(new org.apache.hadoop.fs.Path(location).toUri());
    }

    /** A local path, or the path of a {@code file:} URI. */
    public static Path local(String location) {
        if (location.regionMatches(true, 0, "file:", 0, 5)) return Path.of(new org.apache.hadoop.fs.Path(location).toUri().getPath());
        return Path.of(location);
    }

    private static URI root(URI u) {
        String path = u.getPath() == null || u.getPath().isEmpty() ? "/" : u.getPath().replaceAll("/+$", "");
        if (Arrays.stream(path.split("/")).anyMatch(n -> n.equals(".") || n.equals(".."))) throw new IllegalArgumentException(u + ": names . or ..");
        return URI.create(u.getScheme().toLowerCase(Locale.ROOT) + "://" + (u.getAuthority() == null ? "" : u.getAuthority().toLowerCase(Locale.ROOT)) + path);
    }

    /** The file's bytes at {@code location} (a local path or a URI); every refusal is a {@link LiveTrainException} naming {@code shown}. */
    public byte[] read(String shown, String location) {
        Optional<URI> uri;
        try {
            uri = remote(location);
        } catch (IllegalArgumentException e) {
            throw new LiveTrainException(shown + ": not a valid URI (" + e.getMessage() + ")");
        }
        if (uri.isPresent()) return readRemote(shown, uri.get());
        Path path;
        try {
            path = local(location);
        } catch (IllegalArgumentException e) {
            throw new LiveTrainException(shown + ": not a valid path");
        }
        return read(shown, path);
    }

    /** The local file's bytes; every refusal is a {@link LiveTrainException} naming {@code shown}. */
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

    /** Whether {@code location} names a directory this reader may list: under the roots, when it is confined. */
    public boolean isDirectory(String location) {
        try {
            Optional<URI> uri = remote(location);
            if (uri.isPresent()) {
                if (roots != null && !underRemoteRoot(uri.get())) return false;
                org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri.get());
                return Storage.fs(p, conf).getFileStatus(p).isDirectory();
            }
            Path p = local(location);
            if (roots != null && roots.stream().noneMatch(root -> real(p).startsWith(root))) return false;
            return Files.isDirectory(p);
        } catch (IOException | RuntimeException e) {
            return false; // then it is read as a file, and refused as one
        }
    }

    private static Path real(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The files directly in {@code directory} whose names {@code images} accepts, in name order, as locations to request. */
    public List<String> list(String directory, Predicate<String> images) throws IOException {
        Optional<URI> uri = remote(directory);
        if (uri.isPresent()) {
            org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri.get());
            return Arrays.stream(Storage.fs(p, conf).listStatus(p)).filter(FileStatus::isFile).map(FileStatus::getPath)
                    .filter(f -> images.test(f.getName())).map(org.apache.hadoop.fs.Path::toString).sorted().toList();
        }
        try (Stream<Path> s = Files.list(local(directory))) {
            return s.filter(Files::isRegularFile).filter(f -> images.test(f.getFileName().toString())).map(Path::toString).sorted().toList();
        }
    }

    /** A file on another file system: admitted under a remote root (or anywhere), its size checked from its status, read once. */
    private byte[] readRemote(String shown, URI uri) {
        boolean confined = roots != null;
        if (confined && !underRemoteRoot(uri)) throw outside(shown);
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri);
        try {
            FileSystem fs = Storage.fs(p, conf);
            FileStatus st = fs.getFileStatus(p);
            if (st.isDirectory()) throw new LiveTrainException(shown + ": is a directory, not an image");
            if (st.getLen() > maxBytes) throw new LiveTrainException(shown + ": " + st.getLen() + " bytes, more than the limit of " + maxBytes);
            byte[] bytes = new byte[(int) st.getLen()];
            try (FSDataInputStream in = fs.open(p)) {
                in.readFully(bytes);
                if (in.read() != -1) throw new LiveTrainException(shown + ": changed while it was read");
            }
            return bytes;
        } catch (FileNotFoundException e) {
            throw confined ? outside(shown) : new LiveTrainException(shown + ": no such file");
        } catch (AccessControlException e) {
            throw confined ? outside(shown) : new LiveTrainException(shown + ": not readable (permission denied)");
        } catch (EOFException e) {
            throw new LiveTrainException(shown + ": changed while it was read");
        } catch (IOException e) {
            throw new LiveTrainException(shown + ": unreadable (" + Storage.firstLine(e) + ")", e);
        }
    }

    /** Whether {@code uri} lies under one of the remote roots: the same scheme and authority, a path below the root's, no . or .. names. */
    private boolean underRemoteRoot(URI uri) {
        String path = uri.getPath();
        if (path == null || Arrays.stream(path.split("/")).anyMatch(n -> n.equals(".") || n.equals(".."))) return false;
        String scheme = uri.getScheme().toLowerCase(Locale.ROOT), authority = uri.getAuthority() == null ? "" : uri.getAuthority().toLowerCase(Locale.ROOT);
        for (URI root : remoteRoots) {
            String rootAuthority = root.getAuthority() == null ? "" : root.getAuthority();
            if (!root.getScheme().equals(scheme) || !rootAuthority.equals(authority)) continue;
            String base = root.getPath().endsWith("/") ? root.getPath() : root.getPath() + "/";
            if (path.startsWith(base) && path.length() > base.length()) return true;
        }
        return false;
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
