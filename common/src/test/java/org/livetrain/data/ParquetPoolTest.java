package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imencode;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tables of images written with Parquet's own writer, in the layouts Spark users make (content or path; text or integer labels; a split column). */
@Tag("fast")
class ParquetPoolTest {
    @TempDir
    Path dir;

    static final MessageType CONTENT = MessageTypeParser.parseMessageType(
            "message spark { optional binary path (STRING); optional binary content; optional int32 label; optional binary split (STRING); }");

    /** The first {@code n} bundled digits as PNG bytes, with their labels. */
    static List<LabeledImage> digits(int n) {
        Dataset digits = Dataset.open(Dataset.DIGITS, new Configuration());
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        List<LabeledImage> out = new ArrayList<>();
        digits.pool().read(idx).forEachRemaining(out::add);
        return out;
    }

    static byte[] png(float[] pixels) {
        Mat m = new Mat(28, 28, CV_8UC1);
        try (UByteIndexer ix = m.createIndexer()) {
            for (int p = 0; p < 784; p++) ix.put(p / 28, p % 28, Math.round(pixels[p] * 255));
        }
        try (BytePointer buf = new BytePointer()) {
            imencode(".png", m, buf);
            byte[] b = new byte[(int) buf.limit()];
            buf.get(b);
            return b;
        }
    }

    /** Writes rows into {@code file} in row groups of about 8 KB, so that reading some rows skips whole groups. */
    static void write(Path file, MessageType schema, List<Group> rows) throws Exception {
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new org.apache.hadoop.fs.Path(file.toUri())).withType(schema)
                .withCompressionCodec(CompressionCodecName.SNAPPY).withRowGroupSize(8 * 1024L).withPageSize(4 * 1024).build()) {
            for (Group g : rows) w.write(g);
        }
    }

    @Test
    void aTableOfContentAndIntegerLabelsReadsBackWhatWasWritten() throws Exception {
        List<LabeledImage> originals = digits(300);
        SimpleGroupFactory f = new SimpleGroupFactory(CONTENT);
        List<Group> part0 = new ArrayList<>(), part1 = new ArrayList<>();
        for (LabeledImage e : originals) {
            Group g = f.newGroup().append("path", "file:/images/" + e.label() + "/" + e.index() + ".png").append("label", e.label());
            if (e.index() != 17) g.append("content", org.apache.parquet.io.api.Binary.fromConstantByteArray(png(e.pixels())));
            (e.index() < 150 ? part0 : part1).add(g);
        }
        Path table = Files.createDirectories(dir.resolve("t.parquet"));
        write(table.resolve("part-00000.snappy.parquet"), CONTENT, part0);
        write(table.resolve("part-00001.snappy.parquet"), CONTENT, part1);
        Files.writeString(table.resolve("_SUCCESS"), "");

        Dataset d = Dataset.open("parquet:" + table, new Configuration());
        assertEquals(300, d.pool().size());
        assertEquals(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), d.classNames());
        int[] some = {3, 17, 149, 150, 151, 299};
        List<Pool.Refused> refused = d.pool().refused(some);
        assertEquals(1, refused.size());
        assertEquals(17, refused.get(0).index());
        assertTrue(refused.get(0).why().startsWith("file:/images/" + originals.get(17).label() + "/17.png: no image"), refused.get(0).why());
        ImagePreprocessor direct = new ImagePreprocessor(d.contract(), ImagePreprocessor.DEFAULT_MAX_PIXELS);
        Iterator<LabeledImage> it = d.pool().read(some);
        for (int i : new int[]{3, 149, 150, 151, 299}) {
            LabeledImage e = it.next();
            assertEquals(i, e.index());
            assertEquals(originals.get(i).label(), e.label());
            assertArrayEquals(direct.bytes(png(originals.get(i).pixels()), "x"), e.pixels(), "row " + i + " is the image written there, prepared as serving prepares it");
        }
        assertTrue(!it.hasNext());
        Split split = d.split(7);
        assertTrue(split.rule().startsWith("by a hash of each row's path"), split.rule());
        assertEquals(300, split.train().length + split.dev().length + split.test().length);
    }

    @Test
    void aSplitColumnDecidesTheParts() throws Exception {
        SimpleGroupFactory f = new SimpleGroupFactory(CONTENT);
        List<Group> rows = new ArrayList<>();
        for (LabeledImage e : digits(60)) {
            rows.add(f.newGroup().append("path", "p" + e.index()).append("label", e.label())
                    .append("content", org.apache.parquet.io.api.Binary.fromConstantByteArray(png(e.pixels())))
                    .append("split", e.index() < 40 ? "train" : e.index() < 50 ? "validation" : "test"));
        }
        Path file = dir.resolve("one.parquet");
        write(file, CONTENT, rows);
        Split s = Dataset.open("parquet:" + file, new Configuration()).split(1);
        assertEquals(40, s.train().length);
        assertEquals(40, s.dev()[0]);
        assertEquals(50, s.test()[0]);
    }

    /** Spark's image source keeps pixels, not files: {@code image: struct<origin, height, width, nChannels, mode, data>}. */
    @Test
    void sparksImageStructIsReadAsItsPixels() throws Exception {
        MessageType schema = MessageTypeParser.parseMessageType("message spark_schema { optional group image { optional binary origin (STRING);"
                + " optional int32 height; optional int32 width; optional int32 nChannels; optional int32 mode; optional binary data; } optional binary label (STRING); }");
        SimpleGroupFactory f = new SimpleGroupFactory(schema);
        List<LabeledImage> originals = digits(30);
        List<Group> rows = new ArrayList<>();
        for (LabeledImage e : originals) {
            byte[] px = new byte[784];
            for (int p = 0; p < 784; p++) px[p] = (byte) Math.round(e.pixels()[p] * 255);
            Group g = f.newGroup();
            Group img = g.addGroup("image").append("origin", "hdfs://nn/images/" + e.index() + ".png").append("height", 28).append("width", 28)
                    .append("nChannels", 1).append("mode", 0);
            img.append("data", org.apache.parquet.io.api.Binary.fromConstantByteArray(e.index() == 5 ? new byte[100] : px));
            g.append("label", "d" + e.label());
            rows.add(g);
        }
        Path file = dir.resolve("images.parquet");
        write(file, schema, rows);
        Dataset d = Dataset.open("parquet:" + file, new Configuration());
        List<Pool.Refused> refused = d.pool().refused(new int[]{4, 5, 6});
        assertEquals(1, refused.size());
        assertEquals("hdfs://nn/images/5.png: image of 28x28x1 does not match its 100 bytes of pixels", refused.get(0).why());
        ImagePreprocessor direct = new ImagePreprocessor(d.contract(), ImagePreprocessor.DEFAULT_MAX_PIXELS);
        LabeledImage e = d.pool().read(new int[]{7}).next();
        assertArrayEquals(direct.bytes(png(originals.get(7).pixels()), "x"), e.pixels(), "the pixels, prepared as the same image in a PNG file");
        assertEquals("d" + originals.get(7).label(), d.classNames().get(e.label()));
    }

    /** A table of paths and labels: each image is read from where its path says, through that path's own file system. */
    @Test
    void aTableOfPathsReadsEachFileFromItsPath() throws Exception {
        MessageType schema = MessageTypeParser.parseMessageType("message m { optional binary path (STRING); optional int64 label; }");
        SimpleGroupFactory f = new SimpleGroupFactory(schema);
        List<LabeledImage> originals = digits(20);
        List<Group> rows = new ArrayList<>();
        for (LabeledImage e : originals) {
            Path png = Files.write(Files.createDirectories(dir.resolve("elsewhere")).resolve(e.index() + ".png"), png(e.pixels()));
            rows.add(f.newGroup().append("path", e.index() == 3 ? dir.resolve("missing.png").toUri().toString() : png.toUri().toString()).append("label", (long) e.label()));
        }
        Path file = dir.resolve("paths.parquet");
        write(file, schema, rows);
        Dataset d = Dataset.open("parquet:" + file, new Configuration());
        List<Pool.Refused> refused = d.pool().refused(new int[]{2, 3, 4});
        assertEquals(1, refused.size());
        assertTrue(refused.get(0).why().startsWith(dir.resolve("missing.png").toUri() + ": cannot read"), refused.get(0).why());
        ImagePreprocessor direct = new ImagePreprocessor(d.contract(), ImagePreprocessor.DEFAULT_MAX_PIXELS);
        assertArrayEquals(direct.bytes(png(originals.get(4).pixels()), "x"), d.pool().read(new int[]{4}).next().pixels());
    }

    @Test
    void columnsOfOtherNamesAreReadWhenNamed() throws Exception {
        MessageType schema = MessageTypeParser.parseMessageType("message m { optional binary img; optional binary cls (STRING); }");
        SimpleGroupFactory f = new SimpleGroupFactory(schema);
        List<Group> rows = new ArrayList<>();
        for (LabeledImage e : digits(40)) {
            rows.add(f.newGroup().append("img", org.apache.parquet.io.api.Binary.fromConstantByteArray(png(e.pixels()))).append("cls", e.label() % 2 == 0 ? "even" : "odd"));
        }
        Path file = dir.resolve("named.parquet");
        write(file, schema, rows);
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("parquet:" + file, new Configuration()));
        assertTrue(e.getMessage().endsWith(": no image column: needs content (binary, as Spark's binaryFile source writes), image (Spark's image struct)"
                + " or path (string), or --image-column NAME"), e.getMessage());
        Dataset d = Dataset.open("parquet:" + file, new ParquetPool.Columns("img", "cls"), new Configuration());
        assertEquals(List.of("even", "odd"), d.classNames());
        assertEquals(40, d.pool().size());
        assertTrue(d.pool().refused(new int[]{0, 1, 39}).isEmpty());
        assertTrue(d.split(3).rule().startsWith("by a hash of each row's path"), "rows without a path go by file and row");
    }

    @Test
    void aTableWithoutItsColumnsIsRefusedInOneLine() throws Exception {
        MessageType noLabel = MessageTypeParser.parseMessageType("message m { optional binary content; optional binary name (STRING); }");
        SimpleGroupFactory f = new SimpleGroupFactory(noLabel);
        Path file = dir.resolve("nolabel.parquet");
        write(file, noLabel, List.of(f.newGroup().append("name", "x")));
        LiveTrainException e = assertThrows(LiveTrainException.class, () -> Dataset.open("parquet:" + file, new Configuration()));
        assertEquals(file.toUri().toString().replace("file:///", "file:/") + ": no label column (string or integer), or --label-column NAME", e.getMessage());
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("parquet:" + dir.resolve("missing"), new Configuration()));
        assertTrue(e.getMessage().endsWith("missing: no such table (parquet: expects a table folder or a .parquet file)"), e.getMessage());
        Files.createDirectories(dir.resolve("empty"));
        e = assertThrows(LiveTrainException.class, () -> Dataset.open("parquet:" + dir.resolve("empty"), new Configuration()));
        assertTrue(e.getMessage().endsWith("empty: no Parquet files (parquet: expects a table folder or a .parquet file)"), e.getMessage());
    }
}
