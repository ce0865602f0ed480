package org.livetrain.io;

import org.apache.hadoop.conf.Configuration;

import java.util.Map;

/** Hadoop settings for commands that do not start Spark: the {@code spark.hadoop.*} entries of {@code --conf}, as Spark would apply them. */
public final class HadoopConfs {
    private static final String PREFIX = "spark.hadoop.";

    private HadoopConfs() {
    }

    public static Configuration from(Map<String, String> sparkConf) {
        Configuration conf = new Configuration();
        sparkConf.forEach((k, v) -> {
            if (k.startsWith(PREFIX)) conf.set(k.substring(PREFIX.length()), v);
        });
        return conf;
    }
}
