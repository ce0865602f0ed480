package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
import org.livetrain.io.HadoopConf;
import org.livetrain.io.Storage;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Images in {@code ROOT/<label>/*.png|jpg|...} on any Hadoop file system (a local path, {@code file:},
 * {@code hdfs:}, {@code s3a:}, {@code abfs:}, {@code gs:}): one sub-folder per class, classes in name order;
 * or in {@code ROOT/train/<label>/...} with {@code ROOT/dev/<label>/...} (or {@code val/}, {@code validation/})
 * and {@code ROOT/test/<label>/...}, which then decide the split ({@link #split}).
 * The driver lists the folders (the class folders in parallel) and keeps each file's path relative to the
 * root; executors read their own files' bytes through the FileSystem and decode them from memory with the one
 * {@link ImagePreprocessor}, driven by the data set's {@link InputContract}, as serving prepares a file.
 * Settings and credentials come from the Hadoop configuration ({@code --conf spark.hadoop.*}).
 */
public final class FolderPool extends EncodedPool {
    private static final long serialVersionUID = 2L;
    public static final Set<String> EXTENSIONS = Set.of("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "ppm", "pbm");
    /** Class folders listed at once: object stores answer each listing in tens of milliseconds. */
    private static final int LISTING_THREADS = 16;

    private final String root;
    private final HadoopConf conf;
    private final List<String> classNames;
    /** Each example's path relative to the root: {@code [<part>/]<label>/<file>}. */
    private final String[] files;
    private final int[] labels;
    /** Each example's part when split folders say it ({@link Split#TRAIN}, ...), else null. */
    private final byte[] parts;
    private final InputContract contract;

    private FolderPool(String root, HadoopConf conf, List<String> classNames, String[] files, int[] labels, byte[] parts, InputContract contract) {
        this.root = root;
        this.conf = conf;
        this.classNames = classNames;
        this.files = files;
        this.labels = labels;
        this.parts = parts;
        this.contract = contract;
    }

    /** Folder names that say the part their images belong to. */
    private static final Map<String, Byte> PART_FOLDERS = Map.of("train", Split.TRAIN, "dev", Split.DEV, "val", Split.DEV,
            "validation", Split.DEV, "test", Split.TEST);

    /** The folder at {@code location}: a local path or any Hadoop URI. */
    public static FolderPool open(String location, Configuration conf) {
        Path root = Storage.path(location);
        try {
            FileSystem fs = Storage.fs(root, conf);
            FileStatus top;
            try {
                top = fs.getFileStatus(root);
            } catch (FileNotFoundException e) {
                throw new LiveTrainException(root + ": no such folder (folder: expects DIR/<label>/<image files>)");
            }
            if (!top.isDirectory()) throw new LiveTrainException(root + ": not a folder (folder: expects DIR/<label>/<image files>)");
            List<FileStatus> subs = folders(fs, root);
            boolean split = subs.stream().anyMatch(s -> s.getPath().getName().equals("train"))
                    && subs.stream().filter(s -> PART_FOLDERS.containsKey(s.getPath().getName())).count() > 1;
            Listing listing = split ? listParts(fs, subs) : new Listing(subs, null);
            String qualified = fs.makeQualified(root).toString().replaceAll("/+$", ""); // file:/d/ and file:/d are one folder
            return listing.pool(qualified, new HadoopConf(conf), listInParallel(fs, listing.classDirs()));
        } catch (IOException e) {
            throw Storage.problem(root + ": cannot list folder", e);
        }
    }

    private static List<FileStatus> folders(FileSystem fs, Path dir) throws IOException {
        return Arrays.stream(fs.listStatus(dir)).filter(FileStatus::isDirectory).sorted(Comparator.comparing(s -> s.getPath().getName())).toList();
    }

    /** The class folders to list, and for split folders the part of each ({@code null} without). */
    private record Listing(List<FileStatus> classDirs, byte[] partOfDir) {
        /** The pool of what was listed: classes in name order (the union over the parts), files in name order. */
        FolderPool pool(String root, HadoopConf conf, List<List<String>> listed) {
            boolean split = partOfDir != null;
            TreeSet<String> named = new TreeSet<>();
            for (int d = 0; d < classDirs.size(); d++) if (!listed.get(d).isEmpty()) named.add(classDirs.get(d).getPath().getName());
            List<String> classes = new ArrayList<>(named);
            if (classes.size() < 2) {
                throw new LiveTrainException(root + ": needs at least two sub-folders (one per label) holding images, found " + classes.size());
            }
            List<String> files = new ArrayList<>();
            List<Integer> labels = new ArrayList<>();
            List<Byte> parts = new ArrayList<>();
            for (int d = 0; d < classDirs.size(); d++) {
                Path dir = classDirs.get(d).getPath();
                String prefix = (split ? dir.getParent().getName() + "/" : "") + dir.getName() + "/";
                int label = classes.indexOf(dir.getName()); // once per folder: a folder may hold 100,000 files
                for (String f : listed.get(d)) {
                    files.add(prefix + f);
                    labels.add(label);
                    if (split) parts.add(partOfDir[d]);
                }
            }
            byte[] p = null;
            if (split) {
                p = new byte[parts.size()];
                for (int i = 0; i < p.length; i++) p[i] = parts.get(i);
            }
            return new FolderPool(root, conf, List.copyOf(classes), files.toArray(String[]::new), labels.stream().mapToInt(Integer::intValue).toArray(), p, null);
        }
    }

    /** The class folders inside each part folder ({@code train/}, {@code dev/}, ...). */
    private static Listing listParts(FileSystem fs, List<FileStatus> subs) throws IOException {
        List<FileStatus> dirs = new ArrayList<>();
        List<Byte> parts = new ArrayList<>();
        for (FileStatus s : subs) {
            Byte part = PART_FOLDERS.get(s.getPath().getName());
            if (part == null) continue;
            for (FileStatus c : folders(fs, s.getPath())) {
                dirs.add(c);
                parts.add(part);
            }
        }
        byte[] p = new byte[parts.size()];
        for (int i = 0; i < p.length; i++) p[i] = parts.get(i);
        return new Listing(dirs, p);
    }

    /** The image files of each folder, by name, in name order; the folders listed at once. */
    private static List<List<String>> listInParallel(FileSystem fs, List<FileStatus> dirs) throws IOException {
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(LISTING_THREADS, dirs.size())), r -> {
            Thread t = new Thread(r, "livetrain-listing");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<List<String>>> futures = new ArrayList<>();
            for (FileStatus d : dirs) {
                futures.add(pool.submit(() -> Arrays.stream(fs.listStatus(d.getPath())).filter(FileStatus::isFile)
                        .map(s -> s.getPath().getName()).filter(FolderPool::isImageName).sorted().toList()));
            }
            List<List<String>> out = new ArrayList<>();
            for (Future<List<String>> f : futures) out.add(f.get());
            return out;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while listing", e);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The same files, prepared by {@code c} (on the executors, through the one {@link ImagePreprocessor}). */
    @Override
    public FolderPool withContract(InputContract c) {
        return new FolderPool(root, conf, classNames, files, labels, parts, c);
    }

    public static boolean isImageName(String name) {
        int dot = name.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    /**
     * Train / dev / test: by the split folders when the data has them (a part without its own folder drawn
     * from the others by the hash of each file's path), otherwise by that hash alone ({@link Split#byName}).
     */
    @Override
    public Split split(long seed) {
        if (parts == null) return Split.byName(files, seed);
        return Split.byParts(parts, files, seed, "by the folders train/, dev/ and test/ (seed " + seed + " for a part without a folder)");
    }

    /** An example's path relative to the folder: {@code <label>/<file>}. */
    public String file(int index) {
        return files[index];
    }

    @Override
    String key(int index) {
        return files[index];
    }

    /** An example's full location (a URI). */
    public String location(int index) {
        return root + "/" + files[index];
    }

    @Override
    public String describe() {
        return root;
    }

    @Override
    public int size() {
        return files.length;
    }

    @Override
    public int[] labels() {
        return labels;
    }

    @Override
    public FolderPool without(int[] sortedIndices) {
        if (sortedIndices.length == 0) return this;
        int[] kept = kept(files.length, sortedIndices);
        return new FolderPool(root, conf, classNames, Arrays.stream(kept).mapToObj(i -> files[i]).toArray(String[]::new),
                Arrays.stream(kept).map(i -> labels[i]).toArray(), pick(parts, kept), contract);
    }

    @Override
    InputContract contract() {
        return contract;
    }

    /** The files' bytes, read ahead of decoding. */
    @Override
    Iterator<Encoded> encoded(int[] sortedIndices) {
        return files(sortedIndices, this::location, conf);
    }
}
