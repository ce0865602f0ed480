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
import java.util.List;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertEquals;
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

    @Test
    void folderWithoutLabelsIsRefused() {
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("folder:" + dir.resolve("none"), new Configuration()));
        assertTrue(e.getMessage().contains("no such folder"), e.getMessage());
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("folder:" + dir, new Configuration()));
        assertTrue(e.getMessage().contains("at least two sub-folders"), e.getMessage());
    }
}
