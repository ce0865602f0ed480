package org.livetrain.data;

import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
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
 * lists the file names; executors decode and prepare their own files with the one {@link ImagePreprocessor},
 * driven by the data set's {@link InputContract}, as serving prepares a file.
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
    private final InputContract contract;

    private FolderPool(String root, List<String> classNames, String[] files, int[] labels, InputContract contract) {
        this.root = root;
        this.classNames = classNames;
        this.files = files;
        this.labels = labels;
        this.contract = contract;
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
                labels.stream().mapToInt(Integer::intValue).toArray(), null);
    }

    /** The same files, prepared by {@code c} (on the executors, through the one {@link ImagePreprocessor}). */
    @Override
    public FolderPool withContract(InputContract c) {
        return new FolderPool(root, classNames, files, labels, c);
    }

    /** Whether at least a fifth of a sample of the images are in colour (their channels differ visibly). */
    boolean looksColour(int sample) {
        ImagePreprocessor decoder = new ImagePreprocessor();
        int colour = 0, seen = 0;
        for (int i : spread(sample)) {
            float spread;
            try {
                spread = ImagePreprocessor.colourSpread(decoder.decode(Path.of(files[i])));
            } catch (LiveTrainException e) {
                continue; // training skips it too, with a warning
            }
            seen++;
            if (spread > 0.04f) colour++;
        }
        return seen > 0 && colour * 5 >= seen;
    }

    /** {@code c} with the per-channel mean and deviation of a sample of the images, as {@code c} prepares them. */
    InputContract normalisation(InputContract c, int sample) {
        int channels = c.channels(), plane = c.height() * c.width();
        double[] sum = new double[channels], sq = new double[channels];
        long n = 0;
        Iterator<LabeledImage> it = withContract(c).read(spread(sample));
        while (it.hasNext()) {
            float[] px = it.next().pixels();
            for (int ch = 0; ch < channels; ch++) {
                for (int i = ch * plane; i < (ch + 1) * plane; i++) {
                    sum[ch] += px[i];
                    sq[ch] += px[i] * px[i];
                }
            }
            n += plane;
        }
        if (n == 0) throw new LiveTrainException(root + ": none of " + Math.min(sample, size()) + " sampled images could be read");
        float[] mean = new float[channels], std = new float[channels];
        for (int ch = 0; ch < channels; ch++) {
            mean[ch] = (float) (sum[ch] / n);
            std[ch] = (float) Math.max(1e-3, Math.sqrt(Math.max(0, sq[ch] / n - mean[ch] * mean[ch])));
        }
        return c.withNormalisation(mean, std);
    }

    public static boolean isImageName(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    public List<String> classNames() {
        return classNames;
    }

    /** The file of an example. */
    public String file(int index) {
        return files[index];
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
        ImagePreprocessor pre = new ImagePreprocessor(contract, ImagePreprocessor.DEFAULT_MAX_PIXELS);
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
