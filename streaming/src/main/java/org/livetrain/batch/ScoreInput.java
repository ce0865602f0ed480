package org.livetrain.batch;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;

import java.util.Arrays;
import java.util.List;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.input_file_name;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.monotonically_increasing_id;

/**
 * What {@code score --input SPEC} names, as a DataFrame of images to score with two columns: {@code key}
 * (the image's path, or a table row's file and id) and {@code image} (an {@link ImageColumn}: encoded bytes,
 * Spark's image struct, or where to read the image).
 * <pre>
 * spec            read with                                          image from
 * folder:URI      Spark's binaryFile source, every image file below  content
 * parquet:URI     spark.read.parquet                                 the content column (binary), image (Spark's image
 *                                                                    struct) or path (string), or --image-column
 * table:NAME      spark.table (the session's catalog)                as parquet:
 * URI or glob     Spark's binaryFile source (hdfs:///in/*.png)       content
 * </pre>
 * Labels are not needed. Nothing is read on the driver but the listing.
 */
public final class ScoreInput {
    /** File names a folder's images have (as {@code folder:} training data). */
    static final String IMAGE_NAME = "(?i).*\\.(png|jpe?g|bmp|tiff?|webp|pgm|ppm|pbm)$";

    private ScoreInput() {
    }

    /** The images of {@code spec}; {@code imageColumn} names a table's image column (null: content, else image, else path). */
    public static Dataset<Row> read(SparkSession spark, String spec, String imageColumn) {
        if (spec.startsWith("folder:")) return files(spark, spec.substring(7)).filter(col("key").rlike(IMAGE_NAME));
        if (spec.startsWith("parquet:")) return table(spark.read().parquet(spec.substring(8)), spec, imageColumn);
        if (spec.startsWith("table:")) {
            String name = spec.substring(6);
            if (!spark.catalog().tableExists(name)) throw new LiveTrainException(spec + ": no such table in the Spark catalog");
            return table(spark.table(name), spec, imageColumn);
        }
        if (spec.startsWith("idx:") || spec.equals("digits") || spec.equals("fashion")) {
            throw new LiveTrainException(spec + ": score reads image files or tables (folder:URI, parquet:URI, table:NAME, or a URI or glob of images)");
        }
        return files(spark, spec);
    }

    private static Dataset<Row> files(SparkSession spark, String uri) {
        Dataset<Row> f = spark.read().format("binaryFile").option("recursiveFileLookup", "true").load(uri);
        return f.select(col("path").as("key"), col("content").as("image"));
    }

    /** A table's image column; its key: the image struct's origin, else a path column, else the row's file and id. */
    private static Dataset<Row> table(Dataset<Row> t, String spec, String imageColumn) {
        ImageColumn image = ImageColumn.of(t.schema(), imageColumn, spec);
        List<String> names = Arrays.asList(t.schema().fieldNames());
        boolean origin = image.kind() == ImageColumn.Kind.IMAGE
                && Arrays.asList(((StructType) t.schema().apply(image.name()).dataType()).fieldNames()).contains("origin");
        int path = image.keyIndex(t.schema(), null, spec);
        Column key = origin ? col(image.name() + ".origin")
                : path >= 0 ? col(names.get(path))
                : concat(input_file_name(), lit("#"), monotonically_increasing_id().cast(DataTypes.StringType));
        return t.select(key.as("key"), col(image.name()).as("image"));
    }
}
