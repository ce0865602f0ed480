package org.livetrain.batch;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;

import java.util.Arrays;
import java.util.List;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.input_file_name;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.monotonically_increasing_id;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.when;

/**
 * What {@code score --input SPEC} names, as a DataFrame of images to score with four columns: {@code key}
 * (the image's path, or a table row's file and id), {@code content} (its encoded bytes, or null),
 * {@code path} (where to read it when there are no bytes, or null) and {@code raw} (Spark's image struct:
 * height, width, nChannels, data; or null).
 * <pre>
 * spec            read with                                          image from
 * folder:URI      Spark's binaryFile source, every image file below  content
 * parquet:URI     spark.read.parquet                                 the content column (binary), image (Spark's image
 *                                                                    struct) or path (string)
 * table:NAME      spark.table (the session's catalog)                as parquet:
 * URI or glob     Spark's binaryFile source (hdfs:///in/*.png)       content
 * </pre>
 * Labels are not needed. Nothing is read on the driver but the listing.
 */
public final class ScoreInput {
    /** The fields of Spark's image struct that are read. */
    static final StructType RAW = new StructType().add("height", DataTypes.IntegerType).add("width", DataTypes.IntegerType)
            .add("nChannels", DataTypes.IntegerType).add("data", DataTypes.BinaryType);

    /** File names a folder's images have (as {@code folder:} training data). */
    static final String IMAGE_NAME = "(?i).*\\.(png|jpe?g|bmp|tiff?|webp|pgm|ppm|pbm)$";

    private ScoreInput() {
    }

    /** The images of {@code spec}; {@code imageColumn} names a table's image column (null: {@code content}, else {@code path}). */
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
        return f.select(col("path").as("key"), col("content"), lit(null).cast(DataTypes.StringType).as("path"), lit(null).cast(RAW).as("raw"));
    }

    private static Dataset<Row> table(Dataset<Row> t, String spec, String imageColumn) {
        StructType schema = t.schema();
        List<String> names = Arrays.asList(schema.fieldNames());
        String image = imageColumn != null ? imageColumn : names.contains("content") ? "content" : names.contains("image") ? "image" : "path";
        if (!names.contains(image)) {
            throw new LiveTrainException(spec + (imageColumn != null ? ": no column " + image + " (--image-column)"
                    : ": needs a content column (binary, as Spark's binaryFile source writes) or a path column (string), or --image-column NAME"));
        }
        StructField f = schema.apply(image);
        if (f.dataType() instanceof StructType struct) return imageStruct(t, spec, image, struct, names);
        boolean bytes = f.dataType().equals(DataTypes.BinaryType);
        if (!bytes && !f.dataType().equals(DataTypes.StringType)) {
            throw new LiveTrainException(spec + ": column " + image + " is " + f.dataType().simpleString() + ", not binary content or a string path");
        }
        Column key = names.contains("path") && schema.apply("path").dataType().equals(DataTypes.StringType) ? col("path")
                : concat(input_file_name(), lit("#"), monotonically_increasing_id().cast(DataTypes.StringType));
        return t.select(key.as("key"), bytes ? col(image).as("content") : lit(null).cast(DataTypes.BinaryType).as("content"),
                bytes ? lit(null).cast(DataTypes.StringType).as("path") : col(image).as("path"), lit(null).cast(RAW).as("raw"));
    }

    /** Spark's image struct: the pixels are in the row; its origin is the key. */
    private static Dataset<Row> imageStruct(Dataset<Row> t, String spec, String image, StructType struct, List<String> names) {
        List<String> fields = Arrays.asList(struct.fieldNames());
        if (!fields.containsAll(Arrays.asList(RAW.fieldNames()))) {
            throw new LiveTrainException(spec + ": column " + image + " is not Spark's image struct (origin, height, width, nChannels, mode, data)");
        }
        Column key = fields.contains("origin") ? col(image + ".origin")
                : names.contains("path") ? col("path") : concat(input_file_name(), lit("#"), monotonically_increasing_id().cast(DataTypes.StringType));
        Column raw = struct(col(image + ".height"), col(image + ".width"), col(image + ".nChannels"), col(image + ".data")).cast(RAW);
        return t.select(key.as("key"), lit(null).cast(DataTypes.BinaryType).as("content"), lit(null).cast(DataTypes.StringType).as("path"),
                when(col(image).isNull(), lit(null).cast(RAW)).otherwise(raw).as("raw"));
    }
}
