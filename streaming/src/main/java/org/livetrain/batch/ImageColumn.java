package org.livetrain.batch;

import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.livetrain.LiveTrainException;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;

/**
 * The column of a DataFrame that holds its images, and what it holds: encoded bytes ({@code binary}, as Spark's
 * binaryFile source writes {@code content}), Spark's image struct (as its image source writes {@code image}:
 * the pixels, already decoded), or where to read each image ({@code string}: a local path or any Hadoop URI).
 * Without a name the column is {@code content}, else {@code image}, else {@code path}: the rule of
 * {@code train --data parquet:} and {@code score --input}.
 */
public record ImageColumn(String name, Kind kind, int index, int[] structFields) implements Serializable {
    public enum Kind { CONTENT, IMAGE, PATH }

    /** The fields of Spark's image struct that are read, in this order. */
    static final List<String> IMAGE_FIELDS = List.of("height", "width", "nChannels", "data");

    /** The image column of {@code schema}: {@code name}, or by the default rule when null; {@code where} names the input in a refusal. */
    public static ImageColumn of(StructType schema, String name, String where) {
        List<String> names = Arrays.asList(schema.fieldNames());
        String column = name != null ? name : names.contains("content") ? "content" : names.contains("image") ? "image" : "path";
        if (!names.contains(column)) {
            throw new LiveTrainException(where + (name != null ? ": no column " + column
                    : ": needs a content column (binary, as Spark's binaryFile source writes), Spark's image struct (image) or a path column (string)"));
        }
        StructField f = schema.apply(column);
        int index = schema.fieldIndex(column);
        if (f.dataType() instanceof StructType struct) {
            List<String> fields = Arrays.asList(struct.fieldNames());
            if (!fields.containsAll(IMAGE_FIELDS)) {
                throw new LiveTrainException(where + ": column " + column + " is not Spark's image struct (origin, height, width, nChannels, mode, data)");
            }
            return new ImageColumn(column, Kind.IMAGE, index, IMAGE_FIELDS.stream().mapToInt(struct::fieldIndex).toArray());
        }
        if (f.dataType().equals(DataTypes.BinaryType)) return new ImageColumn(column, Kind.CONTENT, index, null);
        if (f.dataType().equals(DataTypes.StringType)) return new ImageColumn(column, Kind.PATH, index, null);
        throw new LiveTrainException(where + ": column " + column + " is " + f.dataType().simpleString()
                + ", not binary content, Spark's image struct or a string path");
    }

    /**
     * The column that names each image in an answer's error: {@code name}, or the image's own path, else a
     * string {@code path} column (binaryFile's), else -1 (the image struct's origin names it).
     */
    public int keyIndex(StructType schema, String name, String where) {
        if (name != null) {
            if (!Arrays.asList(schema.fieldNames()).contains(name)) throw new LiveTrainException(where + ": no column " + name);
            return schema.fieldIndex(name);
        }
        if (kind == Kind.PATH) return index;
        List<String> names = Arrays.asList(schema.fieldNames());
        return names.contains("path") && schema.apply("path").dataType().equals(DataTypes.StringType) ? schema.fieldIndex("path") : -1;
    }
}
