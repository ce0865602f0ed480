package org.livetrain.io;

import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.ParentNotDirectoryException;
import org.apache.hadoop.hdfs.protocol.DSQuotaExceededException;
import org.apache.hadoop.hdfs.protocol.NSQuotaExceededException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.security.AccessControlException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.LiveTrainException;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.file.AccessDeniedException;
import java.util.List;
import java.util.zip.ZipException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * The checked list of storage errors that no retry can fix: they become a {@link LiveTrainException} (exit 2,
 * never retried); the others stay I/O errors that a training job retries.
 */
@Tag("fast")
class StorageProblemTest {
    static final List<IOException> PERMANENT = List.of(
            new AccessControlException("Permission denied: user=alice, access=WRITE, inode=\"/ckpt\""),
            new AccessDeniedException("/ckpt/runs/x/run.json"),
            new FileNotFoundException("/ckpt/runs/x/run.json (Permission denied)"),
            new IOException("mkdir of /ckpt failed: Read-only file system"),
            new IOException("No space left on device"),
            new DSQuotaExceededException("The DiskSpace quota of /ckpt is exceeded"),
            new NSQuotaExceededException("The NameSpace quota of /ckpt is exceeded"),
            new RemoteException("org.apache.hadoop.hdfs.protocol.DSQuotaExceededException", "quota"),
            new RemoteException("org.apache.hadoop.security.AccessControlException", "Permission denied"),
            new ParentNotDirectoryException("/ckpt is not a directory"),
            new FileAlreadyExistsException("/ckpt/lock.json"),
            new FileNotFoundException("/data/train-images-idx3-ubyte.gz"),
            new EOFException("Unexpected end of ZLIB input stream"),
            new ZipException("invalid stored block lengths"));

    static final List<IOException> RETRYABLE = List.of(
            new ConnectException("Connection refused"),
            new SocketTimeoutException("60000 millis timeout while waiting for channel to be ready for read"),
            new RemoteException("org.apache.hadoop.hdfs.server.namenode.SafeModeException", "Name node is in safe mode"),
            new IOException("Filesystem closed"),
            new IOException("All datanodes are bad. Aborting..."),
            new EOFException("End of File Exception between local host is: \"node-3/10.0.0.3\"; destination host is: \"nn:8020\"; java.io.EOFException"),
            new UnknownHostException("namenode.example"));

    @Test
    void errorsNoRetryCanFixBecomeOneLineUserErrors() {
        for (IOException e : PERMANENT) {
            RuntimeException r = Storage.problem("/ckpt: cannot write checkpoint runs/x/checkpoints/step-50", e);
            assertInstanceOf(LiveTrainException.class, r, e.toString());
            assertEquals(1, r.getMessage().lines().count(), r.getMessage());
            assertEquals(r.getMessage(), "/ckpt: cannot write checkpoint runs/x/checkpoints/step-50 (" + Storage.firstLine(e) + ")");
        }
    }

    @Test
    void transientErrorsStayRetryable() {
        for (IOException e : RETRYABLE) {
            RuntimeException r = Storage.problem("/ckpt/runs/x/history.jsonl: unreadable", e);
            assertInstanceOf(UncheckedIOException.class, r, e.toString());
            assertEquals(e, r.getCause());
        }
    }
}
