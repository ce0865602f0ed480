package org.livetrain.ps;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * What a job's summation servers and workers share, and the only thing that lets a peer in: a key that is
 * never sent. It is derived from Spark's shared secret when {@code spark.authenticate} is on, otherwise from
 * the job's random token (which then travels in the task closure, as confidential as Spark's RPC is).
 *
 * <p>The handshake ({@link Wire}) is a challenge-response both ways: each side sends a fresh nonce and proves
 * it holds the key with an HMAC-SHA256 over both nonces and what the worker claims, so nothing a listener sees
 * can be replayed, and a server that does not hold the key cannot pose as one. With encryption on, the key
 * and both nonces give each direction of the connection its own AES-128-GCM key ({@link FrameCipher}).
 */
public final class Credentials {
    static final int NONCE = 16, PROOF = 32, CIPHER_KEY = 16;
    private static final SecureRandom RANDOM = new SecureRandom();
    private final byte[] key;
    private final boolean encrypt;

    private Credentials(byte[] key, boolean encrypt) {
        this.key = key;
        this.encrypt = encrypt;
    }

    /** The key of one job: {@code secret} (Spark's, or the job token) bound to the job's {@code token}. */
    public static Credentials derive(byte[] secret, String token, boolean encrypt) {
        return new Credentials(hmac(secret, "livetrain summation service 1".getBytes(StandardCharsets.UTF_8), token.getBytes(StandardCharsets.UTF_8)), encrypt);
    }

    /** Whether frames after the handshake are encrypted. */
    public boolean encrypt() {
        return encrypt;
    }

    static byte[] nonce() {
        byte[] n = new byte[NONCE];
        RANDOM.nextBytes(n);
        return n;
    }

    /** The client's proof: it holds the key, and says so for this connection's nonces and its claim. */
    byte[] clientProof(byte[] serverNonce, byte[] clientNonce, int worker, int workers) {
        return hmac(key, bytes("client"), serverNonce, clientNonce, ByteBuffer.allocate(9).putInt(worker).putInt(workers).put((byte) (encrypt ? 1 : 0)).array());
    }

    /** The server's answer: it holds the key too (and saw the same nonces). */
    byte[] serverProof(byte[] serverNonce, byte[] clientNonce) {
        return hmac(key, bytes("server"), serverNonce, clientNonce);
    }

    /** Compares proofs in constant time. */
    static boolean matches(byte[] expected, byte[] got) {
        return MessageDigest.isEqual(expected, got);
    }

    /** The connection's cipher as one side sees it: it seals with its own direction's key and opens with the other's. */
    FrameCipher cipher(byte[] serverNonce, byte[] clientNonce, boolean server) {
        byte[] toServer = Arrays.copyOf(hmac(key, bytes("to server"), serverNonce, clientNonce), CIPHER_KEY);
        byte[] toClient = Arrays.copyOf(hmac(key, bytes("to client"), serverNonce, clientNonce), CIPHER_KEY);
        return server ? new FrameCipher(toClient, toServer) : new FrameCipher(toServer, toClient);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** HMAC-SHA256 of the parts, each preceded by its length so that no two sequences of parts read alike. */
    private static byte[] hmac(byte[] key, byte[]... parts) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            for (byte[] p : parts) {
                mac.update(ByteBuffer.allocate(4).putInt(p.length).array());
                mac.update(p);
            }
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }
}
