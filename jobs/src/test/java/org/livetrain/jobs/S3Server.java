package org.livetrain.jobs;

import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.client.builder.AwsClientBuilder;
import com.amazonaws.services.s3.AmazonS3;
import com.amazonaws.services.s3.AmazonS3ClientBuilder;
import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A real S3 API server for the tests: s3proxy in a child JVM of its own (its class path clashes with
 * Spark's), on 127.0.0.1, keeping objects in memory (its file backends answer a folder's name as an empty
 * object, which S3 never does), with one bucket and one access key. What a
 * client needs to reach it is the usual S3A configuration ({@link #settings}), given as {@code --conf
 * spark.hadoop.*} to the commands, as a user would for their own store.
 */
final class S3Server implements AutoCloseable {
    /** Copied there by the build (jobs/pom.xml, execution "s3proxy"). */
    private static final Path JAR = Path.of("target/s3proxy/s3proxy.jar");

    final String bucket;
    final String accessKey = "livetrain";
    final String secretKey;
    private final int port;
    private final Process process;
    private final Path log;

    private S3Server(String bucket, int port, String secretKey, Process process, Path log) {
        this.bucket = bucket;
        this.port = port;
        this.secretKey = secretKey;
        this.process = process;
        this.log = log;
    }

    static S3Server start(Path dir, String bucket) throws Exception {
        if (!Files.isRegularFile(JAR)) throw new IllegalStateException(JAR.toAbsolutePath() + " is missing: run the tests through Maven");
        int port = freePort();
        String secret = UUID.randomUUID().toString();
        Path props = dir.resolve("s3proxy.properties");
        Files.writeString(props, String.join("\n",
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=livetrain",
                "s3proxy.credential=" + secret,
                "jclouds.provider=transient",
                "jclouds.identity=livetrain",
                "jclouds.credential=" + secret) + "\n");
        Path log = dir.resolve("s3proxy.log");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
                "-jar", JAR.toAbsolutePath().toString(), "--properties", props.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        S3Server started = new S3Server(bucket, port, secret, p, log);
        started.awaitListening();
        started.client().createBucket(bucket);
        return started;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private void awaitListening() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < end) {
            if (!process.isAlive()) throw new IllegalStateException("s3proxy ended: " + Files.readString(log));
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException notYet) {
                Thread.sleep(200);
            }
        }
        close();
        throw new IllegalStateException("s3proxy did not listen within 60 s: " + Files.readString(log));
    }

    /** The AWS SDK's own client for this server. */
    AmazonS3 client() {
        return AmazonS3ClientBuilder.standard()
                .withEndpointConfiguration(new AwsClientBuilder.EndpointConfiguration("http://127.0.0.1:" + port, "us-east-1"))
                .withPathStyleAccessEnabled(true)
                .withCredentials(new AWSStaticCredentialsProvider(new BasicAWSCredentials(accessKey, secretKey))).build();
    }

    /** {@code s3a://BUCKET/path}. */
    String uri(String path) {
        return "s3a://" + bucket + "/" + path;
    }

    /**
     * The S3A settings that reach this server with the given secret key: path-style, plain HTTP, few retries.
     */
    Map<String, String> settings(String secret) {
        return Map.of(
                "fs.s3a.endpoint", "http://127.0.0.1:" + port,
                "fs.s3a.endpoint.region", "us-east-1",
                "fs.s3a.path.style.access", "true",
                "fs.s3a.connection.ssl.enabled", "false",
                "fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                "fs.s3a.access.key", accessKey,
                "fs.s3a.secret.key", secret,
                "fs.s3a.attempts.maximum", "2",
                "fs.s3a.retry.limit", "2");
    }

    Configuration conf() {
        Configuration c = new Configuration();
        settings(secretKey).forEach(c::set);
        return c;
    }

    /** {@code --conf spark.hadoop.K=V} for each setting, as a user passes them to any command. */
    List<String> confArgs(String secret) {
        List<String> args = new ArrayList<>();
        settings(secret).forEach((k, v) -> {
            args.add("--conf");
            args.add("spark.hadoop." + k + "=" + v);
        });
        return args;
    }

    @Override
    public void close() throws Exception {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
