package org.livetrain.io;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.UnsupportedFileSystemException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.util.VersionInfo;
import org.livetrain.LiveTrainException;

import java.io.BufferedInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Files on shared storage through the Hadoop FileSystem API ({@code file://}, {@code hdfs://}, {@code s3a://}, ...),
 * plus {@code classpath:} locations for data bundled in the application jar.
 */
public final class Storage {
    public static final String CLASSPATH = "classpath:";
    /** Object stores: a single PUT is atomic, a rename is a copy. */
    /**
     * Stores where an object appears only when the stream that writes it is closed, whole (one PUT, or a
     * multipart upload completed at close): S3A, GCS, and the S3-like OSS, COS and OBS; WASB block blobs are
     * committed at close too. Not ABFS: an ADLS Gen2 file is visible from its create on and grows with each
     * flush, so it is written under a temporary name and renamed, as on HDFS (its rename is atomic).
     */
    private static final Set<String> OBJECT_STORES = Set.of("s3a", "s3", "s3n", "gs", "wasb", "wasbs", "oss", "cos", "obs");

    /**
     * I/O errors that no retry can fix: a permission or a quota, a path that is a file or already exists,
     * a missing file, data that ends early or does not decompress. (A host name that does not resolve is
     * left to retries: in the middle of a run it is more often a passing DNS failure than a wrong name.)
     * Matched on the class and its superclasses by name, so that file-system clients on the class path or
     * not (HDFS, S3A) are recognised alike, and on the class a Hadoop {@code RemoteException} carries.
     */
    private static final Set<String> PERMANENT = Set.of(
            "java.io.FileNotFoundException", "java.io.EOFException", "java.util.zip.ZipException",
            "java.nio.file.AccessDeniedException", "java.nio.file.NoSuchFileException", "java.nio.file.NotDirectoryException",
            "java.nio.file.FileAlreadyExistsException", "java.nio.file.FileSystemLoopException",
            "org.apache.hadoop.security.AccessControlException", "org.apache.hadoop.fs.ClusterStorageCapacityExceededException",
            "org.apache.hadoop.hdfs.protocol.QuotaExceededException", "org.apache.hadoop.fs.ParentNotDirectoryException",
            "org.apache.hadoop.fs.FileAlreadyExistsException", "org.apache.hadoop.fs.PathIsNotDirectoryException",
            "org.apache.hadoop.fs.PathAccessDeniedException", "org.apache.hadoop.fs.PathPermissionException", "org.apache.hadoop.fs.UnsupportedFileSystemException", "org.livetrain.io.Storage$TooLarge");

    private static final Pattern HAS_SCHEME = Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]+:");

    private Storage() {
    }

    /** A location as the user typed it: a URI with a scheme, or a local path (relative to the working directory). */
    public static Path path(String location) {
        if (location == null || location.isBlank()) throw new LiveTrainException("empty path");
        if (!HAS_SCHEME.matcher(location).find()) {
            return new Path(Paths.get(location).toAbsolutePath().normalize().toUri());
        }
        return new Path(location);
    }

    /**
     * The file system of a path. For local paths the raw file system, so that no {@code .crc} side files
     * appear next to checkpoints.
     */
    public static FileSystem fs(Path path, Configuration conf) throws IOException {
        FileSystem fs;
        try {
            fs = path.getFileSystem(conf);
        } catch (UnsupportedFileSystemException e) {
            throw new UnsupportedFileSystemException(noConnector(path));
        } catch (RuntimeException e) {
            if (!(e.getCause() instanceof ClassNotFoundException)) throw e; // Hadoop's "Class ...FileSystem not found"
            throw new UnsupportedFileSystemException(noConnector(path));
        }
        if (fs instanceof LocalFileSystem local) return local.getRaw();
        return fs;
    }

    /** The Hadoop connectors that serve the usual cloud schemes, by scheme. */
    private static final Map<String, String> CONNECTORS = Map.of(
            "s3a", "org.apache.hadoop:hadoop-aws:%s with its AWS SDK",
            "abfs", "org.apache.hadoop:hadoop-azure:%s", "abfss", "org.apache.hadoop:hadoop-azure:%s", "wasb", "org.apache.hadoop:hadoop-azure:%s",
            "gs", "com.google.cloud.bigdataoss:gcs-connector for Hadoop 3",
            "oss", "org.apache.hadoop:hadoop-aliyun:%s");

    /** Why {@code path}'s scheme cannot be read here, and which connector brings it, as for any Spark job. */
    private static String noConnector(Path path) {
        String scheme = path.toUri().getScheme();
        String connector = CONNECTORS.get(scheme);
        String how = connector == null ? "its Hadoop connector" : String.format(Locale.ROOT, connector, VersionInfo.getVersion());
        return "no file system for " + scheme + ":// on the class path; add " + how
                + " as for any Spark job (spark-submit --packages, or LIVETRAIN_CLASSPATH in local mode)";
    }

    /**
     * What an I/O error on {@code what} means for the one who met it: a {@link LiveTrainException} (never
     * retried: the input or the storage must change first) when it is {@linkplain #PERMANENT permanent} or the
     * disk is full; otherwise an {@link UncheckedIOException} that a retry may get past (a connection refused,
     * a timeout, a NameNode in safe mode). The message names {@code what} and the error's first line.
     */
    public static RuntimeException problem(String what, IOException e) {
        String message = what + " (" + firstLine(e) + ")";
        return permanent(e) ? new LiveTrainException(message, e) : new UncheckedIOException(message, e);
    }

    static boolean permanent(IOException e) {
        String text = String.valueOf(e.getMessage());
        if (text.contains("No space left on device") || text.contains("Permission denied") || text.contains("Read-only file system")) return true;
        // Hadoop's RPC client reports a connection that dropped as an EOFException naming both hosts
        if (text.contains("local host is")) return false;
        if (e instanceof RemoteException remote) return permanent(remote.getClassName());
        return permanent(e.getClass());
    }

    /** A class named by a remote error: known here (its superclasses count too) or matched by its name alone. */
    private static boolean permanent(String className) {
        try {
            return permanent(Class.forName(className, false, Storage.class.getClassLoader()));
        } catch (ClassNotFoundException | LinkageError e) {
            return PERMANENT.contains(className);
        }
    }

    private static boolean permanent(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            if (PERMANENT.contains(c.getName())) return true;
        }
        return false;
    }

    public static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** Opens a location for reading; {@code classpath:} reads a resource of the application jar. */
    public static InputStream open(String location, Configuration conf) throws IOException {
        if (location.startsWith(CLASSPATH)) {
            String res = location.substring(CLASSPATH.length());
            InputStream in = Storage.class.getClassLoader().getResourceAsStream(res);
            if (in == null) throw new FileNotFoundException(location + " (not in the application jar)");
            return new BufferedInputStream(in, 1 << 16);
        }
        Path p = path(location);
        return new BufferedInputStream(fs(p, conf).open(p), 1 << 16);
    }

    public static boolean exists(String location, Configuration conf) throws IOException {
        if (location.startsWith(CLASSPATH)) {
            return Storage.class.getClassLoader().getResource(location.substring(CLASSPATH.length())) != null;
        }
        Path p = path(location);
        return fs(p, conf).exists(p);
    }

    /** The most a reader takes from a small JSON file: a pointer, meta.json, run.json, lock.json, progress.json. */
    public static final long MAX_JSON = 16L << 20;
    /** The most a reader takes from a file of JSON lines: history.jsonl, serving-stats.jsonl. */
    public static final long MAX_JSON_LINES = 256L << 20;
    /** The most a reader takes from a model file: a checkpoint's model.zip, --init-from, --model-config. */
    public static final long MAX_MODEL = 1L << 30;

    /** A file larger than what its reader takes: no retry makes it smaller. */
    public static final class TooLarge extends IOException {
        TooLarge(String what, long max) {
            super(what + ": larger than " + (max >> 20) + " MiB, the most read from such a file");
        }
    }

    /**
     * A whole file, of at most {@code max} bytes: whoever can write a checkpoint directory chooses its files'
     * sizes. A larger one is refused ({@link TooLarge}) having read at most {@code max + 1} bytes; above
     * {@link #MAX_JSON} the size is checked from the file's status first, so that nothing near a large limit is
     * read in vain (a 3 GB sparse file, say).
     */
    public static byte[] readAll(FileSystem fs, Path p, long max) throws IOException {
        if (max > MAX_JSON && fs.getFileStatus(p).getLen() > max) throw new TooLarge(p.toString(), max);
        try (InputStream in = fs.open(p)) {
            return readAll(in, max, p.toString());
        }
    }

    /** A location's whole content, of at most {@code max} bytes ({@link #readAll(FileSystem, Path, long)}). */
    public static byte[] readAll(String location, Configuration conf, long max) throws IOException {
        if (!location.startsWith(CLASSPATH)) {
            Path p = path(location);
            return readAll(fs(p, conf), p, max);
        }
        try (InputStream in = open(location, conf)) {
            return readAll(in, max, location);
        }
    }

    private static byte[] readAll(InputStream in, long max, String what) throws IOException {
        byte[] b = in.readNBytes((int) Math.min(max + 1, Integer.MAX_VALUE - 8));
        if (b.length > max) throw new TooLarge(what, max);
        return b;
    }

    /**
     * Replaces {@code target} with {@code content} so that a reader at any moment sees either the old
     * or the new content, never a partial file: write a temporary sibling, then rename it over the target
     * (atomic on local disks, HDFS and ABFS); on the object stores above a single PUT is already atomic.
     */
    public static void writeAtomically(FileSystem fs, Path target, byte[] content, Configuration conf) throws IOException {
        String scheme = fs.getUri().getScheme();
        if (scheme != null && OBJECT_STORES.contains(scheme)) {
            write(fs, target, content, true);
            return;
        }
        Path tmp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
        try {
            write(fs, tmp, content, false);
            rename(fs, tmp, target, conf);
        } finally {
            fs.delete(tmp, false);
        }
    }

    /**
     * Creates {@code target} with {@code content} unless it exists; returns false if it does. The check and
     * the creation are one step on local disks ({@code CREATE_NEW}) and HDFS (the NameNode refuses a second
     * create); on object stores they are two, so two writers racing within a moment may both succeed.
     */
    public static boolean createExclusively(FileSystem fs, Path target, byte[] content) throws IOException {
        if ("file".equals(fs.getUri().getScheme())) {
            try {
                Files.write(Paths.get(fs.makeQualified(target).toUri()), content, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                return true;
            } catch (java.nio.file.FileAlreadyExistsException e) {
                return false;
            }
        }
        if (fs.exists(target)) return false;
        try {
            write(fs, target, content, false);
            return true;
        } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
            return false;
        } catch (RemoteException e) {
            if (e.getClassName().endsWith("FileAlreadyExistsException")) return false;
            throw e;
        }
    }

    /**
     * Creates {@code file} with {@code content}. HDFS throws a failed write's exception again from close()
     * (a quota exceeded, for one): it is reported once rather than suppressed into itself, which Java refuses
     * with an IllegalArgumentException that would hide it.
     */
    public static void write(FileSystem fs, Path file, byte[] content, boolean overwrite) throws IOException {
        OutputStream out = fs.create(file, overwrite);
        try {
            out.write(content);
        } catch (IOException e) {
            try {
                out.close();
            } catch (IOException again) {
                if (again != e) e.addSuppressed(again);
            }
            throw e;
        }
        out.close();
    }

    /** Renames {@code src} over an existing {@code dst} atomically. */
    public static void rename(FileSystem fs, Path src, Path dst, Configuration conf) throws IOException {
        if ("file".equals(fs.getUri().getScheme())) {
            Files.move(Paths.get(fs.makeQualified(src).toUri()), Paths.get(fs.makeQualified(dst).toUri()),
                    StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return;
        }
        FileContext.getFileContext(fs.getUri(), conf).rename(src, dst, Options.Rename.OVERWRITE);
    }
}
