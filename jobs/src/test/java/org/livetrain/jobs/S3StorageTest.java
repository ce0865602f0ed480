package org.livetrain.jobs;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.store.Checkpoint;
import org.livetrain.store.CheckpointStore;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training data and checkpoints on S3, through Hadoop's S3A client against a real S3 API server (s3proxy
 * on 127.0.0.1), reached with nothing but the usual {@code --conf spark.hadoop.fs.s3a.*} settings.
 */
@Tag("slow")
class S3StorageTest {
    @TempDir
    static java.nio.file.Path dir;
    static S3Server s3;

    @BeforeAll
    static void start() throws Exception {
        s3 = S3Server.start(dir, "livetrain");
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
    }

    static String[] args(String secret, String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(s3.confArgs(secret));
        return all.toArray(String[]::new);
    }

    @Test
    void trainsFromAFolderOnS3AndServesItsCheckpointsFromThere() throws Exception {
        String digits = s3.uri("images/digits");
        int n;
        try (FileSystem fs = FileSystem.newInstance(new Path(digits).toUri(), s3.conf())) {
            n = DigitFiles.write(fs, new Path(digits), 1500);
        }
        String ckpt = s3.uri("livetrain");
        Cli r = Cli.run(args(s3.secretKey, "train", "--data", "folder:" + digits, "--epochs", "2", "--eval-every", "20", "--checkpoint-dir", ckpt));
        assertEquals(0, r.exitCode(), () -> r.out() + r.err());
        assertTrue(r.out().contains("data check: all " + n + " examples can be used"), r.out());
        CheckpointStore store = CheckpointStore.open(ckpt, s3.conf());
        Checkpoint best = store.load(store.best().orElseThrow(), false);
        assertTrue(best.meta().devAccuracy() > 0.7, "learns: dev accuracy " + best.meta().devAccuracy());

        String seven = s3.uri("demo/seven.png");
        try (FileSystem fs = FileSystem.newInstance(new Path(digits).toUri(), s3.conf())) {
            fs.copyFromLocalFile(new Path(HdfsStorageTest.SEVEN.toUri()), new Path(seven));
        }
        Cli prompt = Cli.withInput(HdfsStorageTest.SEVEN + "\n" + seven + "\n" + s3.uri("images/secret.png") + "\nq\n", args(s3.secretKey, "terminal",
                "--checkpoint-dir", ckpt, "--allowed-roots", HdfsStorageTest.SEVEN.getParent() + "," + s3.uri("demo")));
        assertEquals(0, prompt.exitCode(), prompt.err());
        assertEquals(2, prompt.out().split("Prediction: 7", -1).length - 1, "a local path and an s3a:// URI: " + prompt.out());
        assertTrue(prompt.out().contains("Error: " + s3.uri("images/secret.png") + ": no such file in the allowed roots"), prompt.out());

        Cli score = Cli.run(args(s3.secretKey, "score", "--checkpoint-dir", ckpt, "--input", "folder:" + digits, "--output", s3.uri("scores"), "--format", "json"));
        assertEquals(0, score.exitCode(), () -> score.out() + score.err());
        assertTrue(score.out().contains("scored " + n + " images (0 errors) of folder:" + digits), score.out());
    }

    /** Another bucket than the other test's: Hadoop caches a file system per bucket and user, with the settings it was opened with. */
    @Test
    void aWrongSecretKeyIsOneLineAndNoRetry() {
        String data = "s3a://elsewhere/images";
        Cli r = Cli.run(args("not-the-secret", "train", "--data", "folder:" + data, "--epochs", "1", "--checkpoint-dir", "s3a://elsewhere/ckpt"));
        assertEquals(2, r.exitCode(), () -> r.out() + r.err());
        List<String> lines = Stream.of(r.err().split("\n")).filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("livetrain train: --data " + data + ": ") && lines.get(0).contains("403"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }
}
