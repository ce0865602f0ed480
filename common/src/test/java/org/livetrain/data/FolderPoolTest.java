package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Tag("fast")
class FolderPoolTest {
    @TempDir
    Path dir;

    /** Real digits exported as PNG files into DIR/<label>/, as a user would lay them out. */
    @Test
    void folderOfRealDigitPngsReadsBackWithItsLabels() throws Exception {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[40];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        List<LabeledImage> originals = new ArrayList<>();
        digits.pool().read(idx).forEachRemaining(originals::add);
        for (LabeledImage e : originals) {
            Mat m = new Mat(28, 28, CV_8UC1);
            try (UByteIndexer ix = m.createIndexer()) {
                for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(e.pixels()[p] * 255));
            }
            Path d = Files.createDirectories(dir.resolve("digit-" + e.label()));
            imwrite(d.resolve(e.index() + ".png").toString(), m);
        }
        Files.writeString(dir.resolve("digit-3").resolve("README.txt"), "not an image: ignored by name");
        Dataset folder = Dataset.open("folder:" + dir, new Configuration());
        assertEquals(40, folder.pool().size());
        assertEquals(10, folder.numClasses());
        assertEquals("digit-0", folder.classNames().get(0));
        int[] all = new int[40];
        for (int i = 0; i < 40; i++) all[i] = i;
        int n = 0;
        var it = folder.pool().read(all);
        while (it.hasNext()) {
            LabeledImage e = it.next();
            assertEquals(784, e.pixels().length);
            assertEquals("digit-" + e.label(), folder.classNames().get(e.label()));
            n++;
        }
        assertEquals(40, n);
    }

    /** {@code n} real digits from {@code from} on, as PNG files {@code ROOT/digit-<label>/<index>.png}. */
    static void writeDigits(Path root, int from, int n) throws Exception {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = from + i;
        var it = digits.pool().read(idx);
        while (it.hasNext()) {
            LabeledImage e = it.next();
            Mat m = new Mat(28, 28, CV_8UC1);
            try (UByteIndexer ix = m.createIndexer()) {
                for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(e.pixels()[p] * 255));
            }
            Path d = Files.createDirectories(root.resolve("digit-" + e.label()));
            assertTrue(imwrite(d.resolve(e.index() + ".png").toString(), m));
        }
    }

    /** Each example's file name under the folder, by part. */
    static Map<String, Set<String>> parts(FolderPool pool, Split s) {
        Map<String, Set<String>> m = new HashMap<>();
        for (var part : Map.of("train", s.train(), "dev", s.dev(), "test", s.test()).entrySet()) {
            Set<String> names = new TreeSet<>();
            for (int i : part.getValue()) names.add(pool.file(i));
            m.put(part.getKey(), names);
        }
        return m;
    }

    /** A file: URI, as a user copies it from a Hadoop tool, reads the same folder as its plain path. */
    @Test
    void aFileUriReadsTheSameFolder() throws Exception {
        writeDigits(dir, 0, 30);
        FolderPool byPath = (FolderPool) Dataset.open("folder:" + dir, new Configuration()).pool();
        FolderPool byUri = (FolderPool) Dataset.open("folder:" + dir.toUri(), new Configuration()).pool();
        assertEquals(30, byUri.size());
        assertArrayEquals(byPath.labels(), byUri.labels());
        assertEquals(byPath.location(0), byUri.location(0));
        assertTrue(byUri.location(0).startsWith("file:/"), byUri.location(0));
    }

    /** Adding images to a folder moves none of the earlier ones between train, dev and test. */
    @Test
    void newFilesDoNotMoveEarlierOnesBetweenParts() throws Exception {
        writeDigits(dir, 0, 400);
        FolderPool before = (FolderPool) Dataset.open("folder:" + dir, new Configuration()).pool();
        Split s1 = before.split(Split.DEFAULT_SEED);
        writeDigits(dir, 400, 200);
        FolderPool after = (FolderPool) Dataset.open("folder:" + dir, new Configuration()).pool();
        Split s2 = after.split(Split.DEFAULT_SEED);
        assertEquals(600, after.size());
        Map<String, Set<String>> p1 = parts(before, s1), p2 = parts(after, s2);
        for (String part : List.of("train", "dev", "test")) {
            assertTrue(p2.get(part).containsAll(p1.get(part)), part + " kept all its files");
        }
        double devShare = s2.dev().length / 600.0, testShare = s2.test().length / 600.0;
        assertTrue(devShare > 0.06 && devShare < 0.14 && testShare > 0.06 && testShare < 0.14, "about 10% each: " + devShare + ", " + testShare);
        assertTrue(s2.rule().contains("hash"), s2.rule());
        assertFalse(parts(after, after.split(1)).get("dev").equals(p2.get("dev")), "another seed draws another split");
    }

    /** train/, dev/ and test/ sub-folders decide the split; a missing part is drawn from train/ by the hash. */
    @Test
    void splitFoldersDecideTheSplit() throws Exception {
        writeDigits(dir.resolve("train"), 0, 200);
        writeDigits(dir.resolve("test"), 200, 50);
        FolderPool pool = (FolderPool) Dataset.open("folder:" + dir, new Configuration()).pool();
        assertEquals(10, pool.classNames().size());
        assertEquals("digit-0", pool.classNames().get(0), "classes are the label folders, not the part folders");
        Split s = pool.split(Split.DEFAULT_SEED);
        Map<String, Set<String>> p = parts(pool, s);
        assertEquals(50, p.get("test").size());
        assertTrue(p.get("test").stream().allMatch(f -> f.startsWith("test/")));
        assertTrue(p.get("dev").size() > 5 && p.get("dev").stream().allMatch(f -> f.startsWith("train/")), "dev drawn from train/: " + p.get("dev").size());
        assertTrue(s.rule().contains("folders"), s.rule());

        writeDigits(dir.resolve("dev"), 250, 30);
        pool = (FolderPool) Dataset.open("folder:" + dir, new Configuration()).pool();
        p = parts(pool, pool.split(Split.DEFAULT_SEED));
        assertEquals(200, p.get("train").size(), "with a dev/ folder all of train/ trains");
        assertEquals(30, p.get("dev").size());
    }

    /** A file that is not an image is named and left out; the others are kept in order. */
    @Test
    void unreadableFilesAreNamedAndLeftOut() throws Exception {
        writeDigits(dir, 0, 20);
        Files.writeString(dir.resolve("digit-7").resolve("broken.png"), "not a PNG");
        Dataset data = Dataset.open("folder:" + dir, new Configuration());
        Pool pool = data.pool();
        assertEquals(21, pool.size(), "listed by name");
        int[] all = new int[pool.size()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        List<Pool.Refused> refused = pool.refused(all);
        assertEquals(1, refused.size());
        assertTrue(refused.get(0).why().contains("digit-7/broken.png"), refused.get(0).why());
        Pool kept = pool.without(new int[]{refused.get(0).index()});
        assertEquals(20, kept.size());
        int n = 0;
        for (var it = kept.read(Arrays.copyOf(all, 20)); it.hasNext(); it.next()) n++;
        assertEquals(20, n, "every kept example reads");
    }

    @Test
    void folderWithoutLabelsIsRefused() {
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("folder:" + dir.resolve("none"), new Configuration()));
        assertTrue(e.getMessage().contains("no such folder"), e.getMessage());
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("folder:" + dir, new Configuration()));
        assertTrue(e.getMessage().contains("at least two sub-folders"), e.getMessage());
    }
}
