package org.livetrain.spark;

import org.apache.spark.sql.SparkSession;
import org.livetrain.LiveTrainException;
import org.livetrain.io.Storage;

import java.util.List;
import java.util.Optional;

/**
 * Tables of the Spark catalog the job's session is configured with (a Hive metastore, AWS Glue, Unity, or
 * Spark's own in-memory catalog): a table name resolved to the files Spark itself would read for it.
 */
public final class SparkTables {
    private SparkTables() {
    }

    /** The data files of table {@code name} (a Parquet table: {@code parquet:} reads them), as the catalog lists them. */
    public static List<String> files(String name) {
        String spec = "table:" + name;
        Optional<SparkSession> session = SparkSession.getActiveSession().isDefined() ? Optional.of(SparkSession.getActiveSession().get())
                : SparkSession.getDefaultSession().isDefined() ? Optional.of(SparkSession.getDefaultSession().get()) : Optional.empty();
        SparkSession spark = session.orElseThrow(() -> new LiveTrainException(spec + ": a table is read through a Spark job's catalog (train, score), not here"));
        boolean exists;
        try {
            exists = spark.catalog().tableExists(name);
        } catch (RuntimeException e) { // a name Spark's parser refuses
            throw new LiveTrainException(spec + ": not a table name (" + Storage.firstLine(e) + ")");
        }
        if (!exists) {
            throw new LiveTrainException(spec + ": no such table in the Spark catalog (" + spark.conf().get("spark.sql.catalogImplementation", "in-memory")
                    + "); configure the catalog with --conf spark.sql.catalogImplementation=hive and its metastore, or give parquet:URI");
        }
        try {
            return List.of(spark.table(name).inputFiles());
        } catch (RuntimeException e) {
            throw new LiveTrainException(spec + ": cannot list its files (" + Storage.firstLine(e) + ")");
        }
    }
}
