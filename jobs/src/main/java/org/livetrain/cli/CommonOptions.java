package org.livetrain.cli;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.config.Configurator;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;

/** Options every command has. */
public final class CommonOptions {
    @Option(names = "--verbose", description = "Show INFO logs of Spark, DL4J and LiveTrain.")
    boolean verbose;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", mapFallbackValue = "",
            description = "A Spark property (repeatable), e.g. --conf spark.executor.memory=4g; spark.hadoop.* reaches the Hadoop file systems (S3A credentials, HDFS settings).")
    Map<String, String> conf = new LinkedHashMap<>();

    /** Applies --verbose; call first thing in a command. */
    public void apply() {
        if (verbose) {
            Configurator.setAllLevels(LogManager.getRootLogger().getName(), Level.INFO); // loggers switched off by name too
        }
    }

    public Map<String, String> conf() {
        return conf;
    }
}
