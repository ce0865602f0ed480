package org.livetrain.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;
import org.livetrain.LiveTrainException;
import org.livetrain.image.InputContract;
import org.livetrain.io.HadoopConf;
import org.livetrain.io.Storage;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeSet;

/**
 * Labelled images in a Parquet table on any Hadoop file system: the folder Spark writes ({@code part-*.parquet},
 * partition sub-folders too) or one file. Columns, as Spark's own sources write them (the image and label
 * columns may have other names: {@link Columns}):
 * <pre>
 * column     type                         meaning
 * content    binary                       the encoded image (PNG, JPEG, ...), as the binaryFile source writes it
 * image      struct (origin, height, width, Spark's image source: the pixels (BGR, row by row) and their size;
 *            nChannels, mode, data)       origin is the row's path
 * path       string                       where the image came from (binaryFile writes it); without content or
 *                                         image, the image is read from there through the FileSystem
 * label      string, int or long          the class; class names are the distinct values in order
 * split      string (optional)            train, dev (or val, validation) or test: decides the row's part
 * </pre>
 * Rows without a split column are split by a hash of their path (or, without a path, of file and row). The
 * driver reads the footers and the small columns (label, path, split); executors read the content column of
 * the row groups that hold their rows and decode the images from memory ({@link EncodedPool}).
 */
public final class ParquetPool extends EncodedPool {
    private static final long serialVersionUID = 1L;
    static final String CONTENT = "content", IMAGE = "image", PATH = "path", LABEL = "label", SPLIT = "split";
    /** The fields of Spark's image struct that are read (origin too, when present, as the row's path). */
    private static final List<String> IMAGE_FIELDS = List.of("height", "width", "nChannels", "data");
    private static final Map<String, Byte> PARTS = Map.of("train", Split.TRAIN, "dev", Split.DEV, "val", Split.DEV,
            "validation", Split.DEV, "test", Split.TEST);

    /**
     * The columns to read: {@code image} (null: {@code content} when the table has it, else {@code path}) holds
     * encoded bytes (binary) or a path (string); {@code label} holds the class.
     */
    public record Columns(String image, String label) implements Serializable {
        public static final Columns DEFAULT = new Columns(null, LABEL);
    }

    /** An encoded file is capped as a requested file is; raw pixels of Spark's image struct are larger (a 12-megapixel photo is 36 MB). */
    private static final long MAX_CELL_BYTES = 64L << 20;

    private final String root;
    private final HadoopConf conf;
    private final Table table;
    private final List<String> classNames;
    /** Each example's row in the table (files in name order, rows in file order). */
    private final long[] rows;
    private final int[] labels;
    /** Each example's path column, or {@code file#row} without one: its name in messages and for the hash split. */
    private final String[] keys;
    private final byte[] parts;
    private final InputContract contract;

    /** The table's files, the first row of each (and the total last), and whether images are in it or behind a path. */
    /** {@code content}: the column of encoded bytes, or with {@code struct} Spark's image struct; null when images are behind {@code path}. */
    private record Table(String[] files, long[] firstRow, String content, boolean struct, String path, String label) implements Serializable {
        boolean hasContent() {
            return content != null;
        }

        int fileOf(long row) {
            int f = Arrays.binarySearch(firstRow, row);
            return f >= 0 ? f : -f - 2;
        }
    }

    private ParquetPool(String root, HadoopConf conf, Table table, List<String> classNames, long[] rows, int[] labels, String[] keys,
                        byte[] parts, InputContract contract) {
        this.root = root;
        this.conf = conf;
        this.table = table;
        this.classNames = classNames;
        this.rows = rows;
        this.labels = labels;
        this.keys = keys;
        this.parts = parts;
        this.contract = contract;
    }

    /** The table at {@code location}: a folder of Parquet files or one file, on any Hadoop file system. */
    public static ParquetPool open(String location, Columns columns, Configuration conf) {
        Path root = new Path(Storage.path(location).toString().replaceAll("(?<=.)/+$", ""));
        try {
            FileSystem fs = Storage.fs(root, conf);
            List<Path> files = files(fs, root);
            if (files.isEmpty()) throw new LiveTrainException(root + ": no Parquet files (parquet: expects a table folder or a .parquet file)");
            return of(root.toString(), fs.makeQualified(root).toString().replaceAll("/+$", ""), files, columns, conf);
        } catch (IOException e) {
            throw Storage.problem(root + ": cannot read table", e);
        }
    }

    /**
     * The table whose Parquet files a Spark catalog names ({@code table:NAME}): {@code name} in messages, the files
     * as the catalog lists them (any Hadoop URI, any file name).
     */
    public static ParquetPool ofFiles(String name, List<String> files, Columns columns, Configuration conf) {
        if (files.isEmpty()) throw new LiveTrainException(name + ": the table has no files");
        List<Path> paths = files.stream().map(Path::new).sorted().toList();
        try {
            return of(name, name, paths, columns, conf);
        } catch (IOException e) {
            throw Storage.problem(name + ": cannot read table", e);
        }
    }

    private static ParquetPool of(String where, String describe, List<Path> files, Columns columns, Configuration conf) throws IOException {
        MessageType schema;
        try (ParquetFileReader first = ParquetFileReader.open(HadoopInputFile.fromPath(files.get(0), conf))) {
            schema = first.getFooter().getFileMetaData().getSchema();
        } catch (RuntimeException e) { // parquet-mr says "not a Parquet file" with an unchecked exception
            throw new LiveTrainException(where + ": " + files.get(0) + " is not a Parquet file (" + Storage.firstLine(e) + ")");
        }
        Table table = table(where, files, schema, columns);
        return scan(where, describe, table, schema, new HadoopConf(conf));
    }

    /** Which columns hold the image (its bytes, Spark's image struct, or a path to them), the path and the label; refused in one line when missing. */
    private static Table table(String root, List<Path> files, MessageType schema, Columns c) {
        String image = c.image() != null ? c.image() : schema.containsField(CONTENT) ? CONTENT : schema.containsField(IMAGE) ? IMAGE : PATH;
        String[] names = files.stream().map(Path::toString).toArray(String[]::new);
        long[] firstRow = new long[files.size() + 1];
        if (schema.containsField(image) && !schema.getType(image).isPrimitive()) {
            GroupType g = schema.getType(image).asGroupType();
            if (!IMAGE_FIELDS.stream().allMatch(g::containsField)) {
                throw new LiveTrainException(root + ": column " + image + " is not Spark's image struct (origin, height, width, nChannels, mode, data)");
            }
            return new Table(names, firstRow, image, true, g.containsField("origin") ? image + ".origin" : null, label(root, schema, c));
        }
        PrimitiveType imageType = column(schema, image, root);
        if (imageType == null) {
            throw new LiveTrainException(root + (c.image() != null ? ": no column " + image + " (--image-column)"
                    : ": no image column: needs " + CONTENT + " (binary, as Spark's binaryFile source writes), " + IMAGE + " (Spark's image struct) or "
                    + PATH + " (string), or --image-column NAME"));
        }
        if (imageType.getPrimitiveTypeName() != PrimitiveType.PrimitiveTypeName.BINARY) throw new LiveTrainException(root + ": column " + image + " is " + imageType + ", not binary content or a string path");
        boolean isPath = isText(imageType);
        String path = isPath ? image : schema.containsField(PATH) && isText(column(schema, PATH, root)) ? PATH : null;
        return new Table(names, firstRow, isPath ? null : image, false, path, label(root, schema, c));
    }

    private static String label(String root, MessageType schema, Columns c) {
        if (column(schema, c.label(), root) == null) {
            throw new LiveTrainException(root + ": no " + c.label() + " column (string or integer)" + (c.label().equals(LABEL) ? ", or --label-column NAME" : " (--label-column)"));
        }
        return c.label();
    }

    private static boolean isText(PrimitiveType t) {
        return t.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.StringLogicalTypeAnnotation;
    }

    /** A text cell, {@code column} or {@code struct.field}; null when empty. */
    private static String text(Group g, String column) {
        int dot = column.indexOf('.');
        if (dot < 0) return g.getFieldRepetitionCount(column) == 0 ? null : g.getString(column, 0);
        String top = column.substring(0, dot);
        return g.getFieldRepetitionCount(top) == 0 ? null : text(g.getGroup(top, 0), column.substring(dot + 1));
    }

    /** The Parquet files under {@code root} in name order (Spark's {@code _SUCCESS} and hidden files left out), or root itself. */
    private static List<Path> files(FileSystem fs, Path root) throws IOException {
        FileStatus top;
        try {
            top = fs.getFileStatus(root);
        } catch (FileNotFoundException e) {
            throw new LiveTrainException(root + ": no such table (parquet: expects a table folder or a .parquet file)");
        }
        if (top.isFile()) return List.of(top.getPath());
        List<Path> out = new ArrayList<>();
        for (RemoteIterator<LocatedFileStatus> it = fs.listFiles(root, true); it.hasNext(); ) {
            Path p = it.next().getPath();
            String name = p.getName();
            if (name.endsWith(".parquet") && !name.startsWith("_") && !name.startsWith(".")) out.add(p);
        }
        Collections.sort(out);
        return out;
    }

    /** The top-level column {@code name}, if the table has it; refused if it is not a plain value. */
    private static PrimitiveType column(MessageType schema, String name, String root) {
        if (!schema.containsField(name)) return null;
        Type t = schema.getType(name);
        if (!t.isPrimitive() || t.isRepetition(Type.Repetition.REPEATED)) throw new LiveTrainException(root + ": column " + name + " is " + t + ", not a single value");
        return t.asPrimitiveType();
    }

    /** Reads the label, path and split columns of every row on the driver (the images stay where they are). */
    private static ParquetPool scan(String root, String qualified, Table table, MessageType schema, HadoopConf conf) throws IOException {
        boolean hasPath = table.path() != null, hasSplit = schema.containsField(SPLIT);
        String label = table.label(), path = table.path();
        List<Path> files = Arrays.stream(table.files()).map(Path::new).toList();
        boolean textLabels = column(schema, label, root).getPrimitiveTypeName() == PrimitiveType.PrimitiveTypeName.BINARY;
        List<String> rawLabels = new ArrayList<>(), keys = new ArrayList<>();
        List<Byte> parts = new ArrayList<>();
        long[] firstRow = table.firstRow();
        for (int f = 0; f < files.size(); f++) {
            firstRow[f] = rawLabels.size();
            String name = files.get(f).getName();
            rows(files.get(f), conf.get(), null, (row, g) -> {
                rawLabels.add(g.getFieldRepetitionCount(label) == 0 ? null : textLabels ? g.getString(label, 0) : g.getValueToString(g.getType().getFieldIndex(label), 0));
                String key = hasPath ? text(g, path) : null;
                keys.add(key != null ? key : name + "#" + row);
                parts.add(hasSplit && g.getFieldRepetitionCount(SPLIT) > 0 ? PARTS.getOrDefault(g.getString(SPLIT, 0).toLowerCase(Locale.ROOT), Split.UNSAID) : Split.UNSAID);
            }, label, path, hasSplit ? SPLIT : null);
        }
        firstRow[files.size()] = rawLabels.size();
        List<String> classes = classes(rawLabels, textLabels);
        if (classes.size() < 2) throw new LiveTrainException(root + ": needs at least two distinct labels, found " + classes);
        Map<String, Integer> number = new HashMap<>();
        for (String c : classes) number.put(c, number.size());
        int n = rawLabels.size();
        long[] rows = new long[n];
        int[] labels = new int[n];
        byte[] p = new byte[n];
        for (int i = 0; i < n; i++) {
            rows[i] = i;
            labels[i] = rawLabels.get(i) == null ? -1 : number.get(rawLabels.get(i));
            p[i] = parts.get(i);
        }
        boolean said = parts.stream().anyMatch(b -> b != Split.UNSAID); // a split column without values says nothing
        return new ParquetPool(qualified, conf, table, List.copyOf(classes), rows, labels, keys.toArray(String[]::new), said ? p : null, null);
    }

    /** Distinct labels: text in name order, numbers in numeric order. */
    private static List<String> classes(List<String> raw, boolean text) {
        TreeSet<String> set = text ? new TreeSet<>() : new TreeSet<>((a, b) -> Long.compare(Long.parseLong(a), Long.parseLong(b)));
        for (String s : raw) if (s != null) set.add(s);
        return new ArrayList<>(set);
    }

    /** The columns named ({@code column}, or {@code struct.field} for one field of a struct), null ones left out. */
    private static MessageType project(MessageType schema, String... names) {
        List<Type> fields = new ArrayList<>();
        for (String n : names) {
            if (n == null) continue;
            int dot = n.indexOf('.');
            if (dot < 0) fields.add(schema.getType(n));
            else {
                GroupType g = schema.getType(n.substring(0, dot)).asGroupType();
                fields.add(g.withNewFields(g.getType(n.substring(dot + 1))));
            }
        }
        return new MessageType("projection", fields);
    }

    /**
     * Hands each row of one file, projected to {@code names} (null ones left out), to {@code row} with its row number
     * in the file, while its row group is in memory (a cell's bytes may live in the group's buffers). With
     * {@code wanted} (sorted row numbers), only the row groups that hold one of them are read, and only those rows handed.
     */
    private static void rows(Path file, Configuration conf, long[] wanted, RowHandler row, String... names) throws IOException {
        try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(file, conf))) {
            MessageType columns = project(r.getFooter().getFileMetaData().getSchema(), names);
            r.setRequestedSchema(columns);
            long start = 0;
            int w = 0;
            for (BlockMetaData block : r.getRowGroups()) {
                long end = start + block.getRowCount();
                if (wanted != null && (w >= wanted.length || wanted[w] >= end)) {
                    r.skipNextRowGroup();
                } else {
                    PageReadStore pages = r.readNextRowGroup();
                    RecordReader<Group> records = new ColumnIOFactory().getColumnIO(columns).getRecordReader(pages, new GroupRecordConverter(columns));
                    for (long n = start; n < end; n++) {
                        Group g = records.read();
                        if (wanted == null) row.handle(n, g);
                        else if (w < wanted.length && wanted[w] == n) row.handle(wanted[w++], g);
                    }
                }
                start = end;
            }
        }
    }

    private interface RowHandler {
        void handle(long row, Group g);
    }

    @Override
    InputContract contract() {
        return contract;
    }

    /** Content cells: the row groups holding these rows, one file at a time; paths: the files, read ahead. */
    @Override
    Iterator<Encoded> encoded(int[] sortedIndices) {
        if (!table.hasContent()) return files(sortedIndices, i -> keys[i], conf); // paths may lie on another file system than the table
        return new Iterator<>() {
            private int next;
            private Iterator<Encoded> file = Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!file.hasNext() && next < sortedIndices.length) file = nextFile();
                return file.hasNext();
            }

            @Override
            public Encoded next() {
                if (!hasNext()) throw new NoSuchElementException();
                return file.next();
            }

            /** The wanted rows of the file that holds the next index. */
            private Iterator<Encoded> nextFile() {
                int f = table.fileOf(rows[sortedIndices[next]]);
                int from = next;
                while (next < sortedIndices.length && table.fileOf(rows[sortedIndices[next]]) == f) next++;
                return contentOf(f, Arrays.copyOfRange(sortedIndices, from, next)).iterator();
            }
        };
    }

    private List<Encoded> contentOf(int f, int[] indices) {
        long[] wanted = new long[indices.length];
        for (int k = 0; k < indices.length; k++) wanted[k] = rows[indices[k]] - table.firstRow()[f];
        List<Encoded> out = new ArrayList<>(indices.length);
        try {
            rows(new Path(table.files()[f]), conf.get(), wanted, (row, g) -> out.add(cell(indices[out.size()], g)), table.content());
        } catch (IOException | RuntimeException e) { // a truncated or corrupt file: its rows cannot be used
            String why = table.files()[f] + ": cannot read (" + e.getMessage() + ")";
            for (int k = out.size(); k < indices.length; k++) out.add(Encoded.failed(indices[k], keys[indices[k]], why));
        }
        return out;
    }

    /** The image of one row: its encoded bytes, or the pixels of Spark's image struct; why not, when empty or too large. */
    private Encoded cell(int i, Group g) {
        String col = table.content();
        if (g.getFieldRepetitionCount(col) == 0) return Encoded.failed(i, keys[i], keys[i] + ": no image (" + col + " is null)");
        Group img = table.struct() ? g.getGroup(col, 0) : null;
        if (img != null && !IMAGE_FIELDS.stream().allMatch(f -> img.getFieldRepetitionCount(f) > 0)) {
            return Encoded.failed(i, keys[i], keys[i] + ": no image (a field of " + col + " is null)");
        }
        Binary bytes = img != null ? img.getBinary("data", 0) : g.getBinary(col, 0);
        if (bytes.length() > MAX_CELL_BYTES) return Encoded.failed(i, keys[i], keys[i] + ": larger than " + MAX_CELL_BYTES + " bytes");
        int[] raw = img == null ? null : new int[]{img.getInteger("height", 0), img.getInteger("width", 0), img.getInteger("nChannels", 0)};
        return new Encoded(i, bytes.getBytes(), keys[i], null, raw);
    }

    @Override
    public ParquetPool withContract(InputContract c) {
        return new ParquetPool(root, conf, table, classNames, rows, labels, keys, parts, c);
    }

    @Override
    public ParquetPool without(int[] sortedIndices) {
        if (sortedIndices.length == 0) return this;
        int[] kept = kept(rows.length, sortedIndices);
        return new ParquetPool(root, conf, table, classNames, Arrays.stream(kept).mapToLong(i -> rows[i]).toArray(), Arrays.stream(kept).map(i -> labels[i]).toArray(),
                Arrays.stream(kept).mapToObj(i -> keys[i]).toArray(String[]::new), pick(parts, kept), contract);
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    /** By the split column when the table has one (a row without a value, or a part no row names, by the hash), else by the hash of each row's path. */
    @Override
    public Split split(long seed) {
        if (parts == null) return Split.byParts(unsaid(), keys, seed, "by a hash of each row's path (seed " + seed + "): about 80/10/10, stable as rows are added");
        return Split.byParts(parts, keys, seed, "by the table's split column (seed " + seed + " for a part no row names)");
    }

    private byte[] unsaid() {
        byte[] p = new byte[keys.length];
        Arrays.fill(p, Split.UNSAID);
        return p;
    }

    @Override
    String key(int index) {
        return keys[index];
    }

    @Override
    public String describe() {
        return root;
    }

    @Override
    public int size() {
        return rows.length;
    }

    @Override
    public int[] labels() {
        return labels;
    }
}
