package org.livetrain.jobs.byteps;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.livetrain.LiveTrainException;
import org.livetrain.ps.Credentials;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * How a job's summation service is secured, decided by the driver from Spark's own settings and shipped to
 * every task: the job's random token; whether the key comes from Spark's shared secret ({@code spark.authenticate});
 * and whether frames are encrypted ({@code spark.network.crypto.enabled} or {@code spark.ssl.enabled}). The
 * secret is never in here: each task reads it from its own executor's security manager.
 */
record SummationSecurity(String token, boolean sparkSecret, boolean encrypt) implements Serializable {
    static SummationSecurity from(SparkConf conf) {
        byte[] token = new byte[24];
        new SecureRandom().nextBytes(token);
        boolean encrypt = conf.getBoolean("spark.network.crypto.enabled", false) || conf.getBoolean("spark.ssl.enabled", false);
        return new SummationSecurity(HexFormat.of().formatHex(token), conf.getBoolean("spark.authenticate", false), encrypt);
    }

    /** The job's credentials in this JVM (an executor's, or the driver's in local mode). */
    Credentials credentials() {
        return Credentials.derive(sparkSecret ? secretOfSpark() : token.getBytes(StandardCharsets.UTF_8), token, encrypt);
    }

    private static byte[] secretOfSpark() {
        String secret = SparkEnv.get() == null ? null : SparkEnv.get().securityManager().getSecretKey();
        if (secret == null || secret.isEmpty()) {
            throw new LiveTrainException("spark.authenticate is on, but this executor has no Spark secret to key the summation service with");
        }
        return secret.getBytes(StandardCharsets.UTF_8);
    }

    /** For the progress line: how workers and servers trust each other, and whether the wire is encrypted. */
    String describe() {
        String key = sparkSecret ? "summation service keyed by Spark's secret" : "summation service keyed by a job token";
        return key + (encrypt ? ", AES-GCM encrypted" + (sparkSecret ? "" : " (the token travels in the task closure: set spark.authenticate)") : "");
    }
}
