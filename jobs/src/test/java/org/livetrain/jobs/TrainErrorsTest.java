package org.livetrain.jobs;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.data.IdxFile;
import org.livetrain.store.CheckpointStore;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.FILLED;
import static org.bytedeco.opencv.global.opencv_imgproc.rectangle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input ends with one clear line and a non-zero exit, and writes nothing into the checkpoint directory. */
@Tag("fast")
class TrainErrorsTest {
    @TempDir
    Path dir;

    Cli expectOneLineError(String mustContain, String... args) {
        Cli r = Cli.run(args);
        assertEquals(2, r.exitCode(), () -> r.out() + r.err());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), "one line: " + err);
        assertTrue(err.contains(mustContain), err);
        return r;
    }

    @Test
    void badOptionsAreRefusedBeforeAnythingRuns() {
        Path ckpt = dir.resolve("ckpt");
        expectOneLineError("--workers 0: must be at least 1", "train", "--workers", "0", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("Unknown option: '--frobnicate'", "train", "--frobnicate");
        expectOneLineError("--model vgg: unknown model (use lenet, mlp or resnet)", "train", "--model", "vgg", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("--trainer magic: unknown trainer", "train", "--trainer", "magic", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("--averaging-frequency: only the averaging trainer averages (this run's trainer is shared)",
                "train", "--trainer", "shared", "--averaging-frequency", "3", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("Invalid value for option '--epochs'", "train", "--epochs", "three");
        expectOneLineError("--serving-cores 0: must be between 1 and the", "stream", "--bootstrap-servers", "127.0.0.1:1",
                "--checkpoint-dir", ckpt.toString(), "--serving-cores", "0");
        expectOneLineError("--trigger continuous: answers exactly once need micro-batches", "stream", "--bootstrap-servers", "127.0.0.1:1",
                "--checkpoint-dir", ckpt.toString(), "--trigger", "continuous");
        expectOneLineError("--delivery twice: one of [at-least-once, exactly-once]", "stream", "--bootstrap-servers", "127.0.0.1:1",
                "--checkpoint-dir", ckpt.toString(), "--delivery", "twice");
        assertFalse(Files.exists(ckpt), "nothing written");
    }

    @Test
    void badDataIsRefusedAndNothingIsWritten() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        expectOneLineError("--data nonsense: unknown data spec", "train", "--data", "nonsense", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("no such folder", "train", "--data", "folder:" + dir.resolve("missing"), "--checkpoint-dir", ckpt.toString());

        Path idx = Files.createDirectories(dir.resolve("idx"));
        byte[] images = new byte[100 * 784];
        try (OutputStream out = Files.newOutputStream(idx.resolve("train-images-idx3-ubyte.gz"))) {
            IdxFile.write(out, new int[]{100, 28, 28}, images, true);
        }
        try (OutputStream out = Files.newOutputStream(idx.resolve("train-labels-idx1-ubyte.gz"))) {
            IdxFile.write(out, new int[]{100}, new byte[100], true);
        }
        byte[] gz = Files.readAllBytes(idx.resolve("train-images-idx3-ubyte.gz"));
        Files.write(idx.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length / 2));
        expectOneLineError("train-images-idx3-ubyte.gz: truncated", "train", "--data", "idx:" + idx, "--checkpoint-dir", ckpt.toString());
        assertFalse(Files.exists(ckpt), "nothing written");
    }

    /** More unreadable images than --bad-data-limit allows end the run at its start, naming them; fewer are left out. */
    @Test
    void aFolderWithTooManyUnreadableImagesIsRefused() throws Exception {
        Path ckpt = dir.resolve("ckpt"), folder = dir.resolve("images");
        for (String label : new String[]{"a", "b"}) {
            Path d = Files.createDirectories(folder.resolve(label));
            for (int i = 0; i < 10; i++) {
                Mat m = new Mat(28, 28, CV_8UC1, new Scalar(0));
                int w = label.equals("a") ? 3 : 12;
                rectangle(m, new Point(14 - w, 4 + i), new Point(14 + w, 20), new Scalar(255), FILLED, 8, 0);
                assertTrue(imwrite(d.resolve(i + ".png").toString(), m));
            }
        }
        Files.writeString(folder.resolve("a/empty.png"), "");
        Files.writeString(folder.resolve("b/html.jpg"), "<html>an error page saved as an image</html>");
        Cli r = expectOneLineError("2 of 22 examples cannot be used and are left out: ", "train", "--data", "folder:" + folder, "--checkpoint-dir", ckpt.toString());
        assertTrue(r.err().contains("a/empty.png") && r.err().contains("b/html.jpg") && r.err().contains("more than --bad-data-limit 0.01 allows"), r.err());
        expectOneLineError("--bad-data-limit 1.5: must be a fraction between 0 and 1", "train", "--data", "folder:" + folder, "--bad-data-limit", "1.5");
        expectOneLineError("--data nosuch://host/images: cannot list folder (no file system for nosuch:// on the class path; add its Hadoop connector",
                "train", "--data", "folder:nosuch://host/images", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("no file system for gs:// on the class path; add com.google.cloud.bigdataoss:gcs-connector for Hadoop 3 as for any Spark job",
                "train", "--data", "folder:gs://bucket/images", "--checkpoint-dir", ckpt.toString());
        assertFalse(Files.exists(ckpt), "nothing written");
    }

    @Test
    void badRunOptionsAreRefusedBeforeAnythingIsWritten() {
        Path ckpt = dir.resolve("ckpt");
        expectOneLineError("--delete: only with --fresh", "train", "--delete", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("--fresh: cannot start over and --resume at once", "train", "--fresh", "--resume", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("--run-name ../up: use letters, digits", "train", "--run-name", "../up", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("--resume: " + ckpt + " has no run to resume; train without --resume to start one", "train", "--resume", "--checkpoint-dir", ckpt.toString());
        assertFalse(Files.exists(ckpt), "nothing written");
    }

    @Test
    void aRunOnOtherDataIsRefusedInADirectoryThatServesAnother() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        var store = CheckpointStore.create(ckpt.toString(), new Configuration());
        store.newRun("fashion-run", Map.of("trainer", "byteps", "data", "fashion", "model", "lenet"), null, 3, null);
        expectOneLineError("--data digits: " + ckpt + " holds runs on fashion and its best.json serves the best of them; train digits in another"
                + " --checkpoint-dir, or start this one over with --fresh", "train", "--checkpoint-dir", ckpt.toString());
        expectOneLineError("--resume other: " + ckpt + " has no such run (it has fashion-run; ./submit.sh runs lists them)",
                "train", "--resume", "other", "--checkpoint-dir", ckpt.toString());
        assertEquals(1, store.runs().size(), "no run was added");
        assertFalse(Files.exists(ckpt.resolve("lock.json")), "the lock is released");
    }

    @Test
    void unwritableCheckpointDirectoryIsRefused() throws Exception {
        Path file = Files.writeString(dir.resolve("plain-file"), "x");
        expectOneLineError("not writable", "train", "--checkpoint-dir", file.resolve("sub").toString());
        assertEquals("x", Files.readString(file));
    }
}
