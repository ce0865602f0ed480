package org.livetrain.io;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;

import java.io.BufferedInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import java.util.UUID;

/**
 * Files on shared storage through the Hadoop FileSystem API ({@code file://}, {@code hdfs://}, {@code s3a://}, ...),
 * plus {@code classpath:} locations for data bundled in the application jar.
 */
public final class Storage {
    public static final String CLASSPATH = "classpath:";
    /** Object stores: a single PUT is atomic, a rename is a copy. */
    private static final Set<String> OBJECT_STORES = Set.of("s3a", "s3", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cos", "obs");

    private static final java.util.regex.Pattern HAS_SCHEME = java.util.regex.Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]+:");

    private Storage() {
    }

    /** A location as the user typed it: a URI with a scheme, or a local path (relative to the working directory). */
    public static Path path(String location) {
        if (location == null || location.isBlank()) throw new LiveTrainException("empty path");
        if (!HAS_SCHEME.matcher(location).find()) {
            return new Path(java.nio.file.Paths.get(location).toAbsolutePath().normalize().toUri());
        }
        return new Path(location);
    }

    /**
     * The file system of a path. For local paths the raw file system, so that no {@code .crc} side files
     * appear next to checkpoints.
     */
    public static FileSystem fs(Path path, Configuration conf) throws IOException {
        FileSystem fs = path.getFileSystem(conf);
        if (fs instanceof LocalFileSystem local) return local.getRaw();
        return fs;
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

    public static byte[] readAll(FileSystem fs, Path p) throws IOException {
        try (InputStream in = fs.open(p)) {
            return in.readAllBytes();
        }
    }

    /**
     * Replaces {@code target} with {@code content} so that a reader at any moment sees either the old
     * or the new content, never a partial file: write a temporary sibling, then rename it over the target
     * (atomic on local disks and HDFS); on object stores a single PUT is already atomic.
     */
    public static void writeAtomically(FileSystem fs, Path target, byte[] content, Configuration conf) throws IOException {
        String scheme = fs.getUri().getScheme();
        if (scheme != null && OBJECT_STORES.contains(scheme)) {
            try (OutputStream out = fs.create(target, true)) {
                out.write(content);
            }
            return;
        }
        Path tmp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
        try {
            try (OutputStream out = fs.create(tmp, false)) {
                out.write(content);
            }
            rename(fs, tmp, target, conf);
        } finally {
            fs.delete(tmp, false);
        }
    }

    /** Renames {@code src} over an existing {@code dst} atomically. */
    public static void rename(FileSystem fs, Path src, Path dst, Configuration conf) throws IOException {
        if ("file".equals(fs.getUri().getScheme())) {
            Files.move(java.nio.file.Paths.get(fs.makeQualified(src).toUri()), java.nio.file.Paths.get(fs.makeQualified(dst).toUri()),
                    StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return;
        }
        FileContext.getFileContext(fs.getUri(), conf).rename(src, dst, Options.Rename.OVERWRITE);
    }
}
