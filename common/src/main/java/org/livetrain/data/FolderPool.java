package org.livetrain.data;

import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Images in {@code DIR/<label>/*.png|jpg|...}: one sub-folder per class, classes in name order. The driver
 * lists the file names; executors decode their own files with the shared {@link ImagePreprocessor}.
 * The folder must be visible at the same path on every executor (a local folder in local mode, a shared
 * mount on a cluster).
 */
public final class FolderPool implements Pool {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FolderPool.class);
    public static final Set<String> EXTENSIONS = Set.of("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "ppm", "pbm");

    private final String root;
    private final List<String> classNames;
    private final String[] files;
    private final int[] labels;

    private FolderPool(String root, List<String> classNames, String[] files, int[] labels) {
        this.root = root;
        this.classNames = classNames;
        this.files = files;
        this.labels = labels;
    }

    public static FolderPool open(Path dir) {
        if (!Files.isDirectory(dir)) throw new LiveTrainException(dir + ": no such folder (folder: expects DIR/<label>/<image files>)");
        List<String> classes = new ArrayList<>();
        List<String> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        try (Stream<Path> subs = Files.list(dir)) {
            for (Path sub : subs.filter(Files::isDirectory).sorted().toList()) {
                List<Path> images;
                try (Stream<Path> s = Files.list(sub)) {
                    images = s.filter(Files::isRegularFile).filter(FolderPool::isImageName).sorted().toList();
                }
                if (images.isEmpty()) continue;
                int label = classes.size();
                classes.add(sub.getFileName().toString());
                for (Path p : images) {
                    files.add(p.toAbsolutePath().toString());
                    labels.add(label);
                }
            }
        } catch (IOException e) {
            throw new LiveTrainException(dir + ": cannot list folder (" + e.getMessage() + ")", e);
        }
        if (classes.size() < 2) {
            throw new LiveTrainException(dir + ": needs at least two sub-folders (one per label) holding images, found " + classes.size());
        }
        return new FolderPool(dir.toString(), List.copyOf(classes), files.toArray(String[]::new),
                labels.stream().mapToInt(Integer::intValue).toArray());
    }

    public static boolean isImageName(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    public List<String> classNames() {
        return classNames;
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
    public Iterator<LabeledImage> read(int[] sortedIndices) {
        ImagePreprocessor pre = new ImagePreprocessor();
        return new Iterator<>() {
            private int next;
            private LabeledImage ready;

            @Override
            public boolean hasNext() {
                while (ready == null && next < sortedIndices.length) {
                    int i = sortedIndices[next++];
                    try {
                        ready = new LabeledImage(i, labels[i], pre.file(Path.of(files[i])));
                    } catch (LiveTrainException e) {
                        LOG.warn("skipping training image: {}", e.getMessage());
                    }
                }
                return ready != null;
            }

            @Override
            public LabeledImage next() {
                if (!hasNext()) throw new NoSuchElementException();
                LabeledImage r = ready;
                ready = null;
                return r;
            }
        };
    }
}
