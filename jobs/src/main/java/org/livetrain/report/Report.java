package org.livetrain.report;

import com.fasterxml.jackson.databind.JsonNode;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.livetrain.LiveTrainException;
import org.livetrain.jobs.training.Progress;
import org.livetrain.serving.ServingStats;
import org.livetrain.store.CheckpointMeta;
import org.livetrain.store.HistoryEntry;
import org.livetrain.store.RunSummary;

import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * Charts of the training runs of a checkpoint directory, from their {@code history.jsonl} (one line per
 * evaluation), every run on the same charts in its own colour with its settings in the legend, as PNG
 * files, and one HTML page that embeds them (and links the files), with a table of the runs and their
 * evaluations: dev accuracy against step and against training time with the moments the served best model
 * changed marked, losses, training throughput and, for the BytePS trainer, the push/pull share of a step.
 * Works on runs that are still writing.
 */
public final class Report {
    /** One evaluation of a run. */
    public record Point(CheckpointMeta meta, boolean best) {
        static Point of(HistoryEntry h) {
            return new Point(h.meta(), h.best());
        }

        public long step() {
            return meta.step();
        }

        public int epoch() {
            return meta.epoch();
        }

        /** The run's training time at this evaluation. */
        public double seconds() {
            return meta.elapsedSeconds();
        }

        public double devAccuracy() {
            return meta.devAccuracy();
        }

        public double devLoss() {
            return meta.evaluation().devLoss();
        }

        public double trainLoss() {
            return meta.evaluation().trainLoss();
        }

        public double examplesPerSecond() {
            return meta.timing().examplesPerSecond();
        }

        /** The BytePS trainer's share of a step spent in push/pull; null for the other trainers. */
        public Double pushPullShare() {
            return meta.stat("push_pull_share");
        }
    }

    /** One run to draw: what {@code runs} says of it, and its evaluations. */
    public record Run(RunSummary summary, List<Point> points) {
        public static Run of(RunSummary summary, List<HistoryEntry> history) {
            return new Run(summary, history.stream().map(Point::of).toList());
        }

        /** The legend's entry: the run and the settings that tell it from the others. */
        String label() {
            var s = summary;
            StringBuilder b = new StringBuilder(s.name() + ": " + s.setup().trainer() + " " + s.setup().model());
            if (setting(s, "batch") != null) b.append(", ").append(setting(s, "workers")).append("x").append(setting(s, "batch"));
            if (setting(s, "learning-rate") != null) b.append(", lr ").append(setting(s, "learning-rate"));
            if (setting(s, "epochs") != null) b.append(", ").append(setting(s, "epochs")).append(" epoch(s)");
            return b.toString();
        }
    }

    static final int WIDTH = 900, HEIGHT = 480;

    private Report() {
    }

    /**
     * Writes the charts and {@code index.html} into {@code out}; returns the files written, the page last.
     *
     * @param source  what the page says the runs are (their checkpoint directory)
     * @param serving the Kafka scorers' interval figures ({@code serving-stats.jsonl}), possibly none
     */
    public static List<Path> write(String source, List<Run> runs, List<JsonNode> serving, Path out) {
        List<Run> drawn = runs.stream().filter(r -> !r.points().isEmpty()).toList();
        if (drawn.isEmpty()) throw new LiveTrainException(source + ": no evaluations recorded yet (no run has a history.jsonl with a line in it)");
        Map<String, Chart<?, ?>> charts = new LinkedHashMap<>();
        charts.put("dev-accuracy-by-step", accuracy("Dev accuracy by step", drawn, "step", Point::step));
        charts.put("dev-accuracy-by-time", accuracy("Dev accuracy by training time", drawn, "seconds of training", Point::seconds));
        charts.put("loss", loss(drawn));
        charts.put("throughput", perRun("Training throughput", "step", "examples/s", drawn, Point::step, Point::examplesPerSecond, p -> true));
        if (drawn.stream().flatMap(r -> r.points().stream()).anyMatch(p -> p.pushPullShare() != null)) {
            charts.put("push-pull-share", perRun("Push/pull share of a BytePS step", "step", "% of the step", drawn, Point::step,
                    p -> 100 * p.pushPullShare(), p -> p.pushPullShare() != null));
        }
        String servingText = "Serving figures: none recorded for this directory.";
        List<JsonNode> intervals = serving.stream().filter(n -> !n.has("event")).toList(), decisions = serving.stream().filter(n -> n.has("event")).toList();
        if (!intervals.isEmpty()) {
            servingText = servingSummary(intervals);
            charts.put("latency", latencyChart(summedHistogram(intervals)));
            charts.put("serving-throughput", servingRate(intervals));
        }
        if (!decisions.isEmpty()) {
            servingText += " " + decisionSummary(decisions);
            charts.put("model-timeline", modelTimeline(decisions));
        }
        List<Path> files = new ArrayList<>();
        try {
            Files.createDirectories(out);
            StringBuilder images = new StringBuilder();
            for (var e : charts.entrySet()) {
                Path png = out.resolve(e.getKey() + ".png");
                BitmapEncoder.saveBitmap(e.getValue(), png.toString(), BitmapEncoder.BitmapFormat.PNG);
                files.add(png);
                images.append(figure(png, e.getValue().getTitle()));
            }
            Path page = out.resolve("index.html");
            Files.writeString(page, page(source, runs, images.toString(), servingText), StandardCharsets.UTF_8);
            files.add(page);
        } catch (IOException e) {
            throw new LiveTrainException(out + ": cannot write the report (" + e.getMessage() + ")", e);
        }
        return files;
    }

    private static String figure(Path png, String title) throws IOException {
        String data = Base64.getEncoder().encodeToString(Files.readAllBytes(png));
        String name = png.getFileName().toString();
        return "<figure><a href=\"" + name + "\"><img alt=\"" + html(title) + "\" src=\"data:image/png;base64," + data + "\"></a><figcaption>"
                + html(title) + " (<a href=\"" + name + "\">" + name + "</a>)</figcaption></figure>\n";
    }

    // ---- charts

    private static XYChart base(String title, String x, String y) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setPlotGridLinesColor(new Color(225, 225, 225));
        c.getStyler().setAntiAlias(true);
        return c;
    }

    private static XYChart accuracy(String title, List<Run> runs, String x, ToDoubleFunction<Point> xOf) {
        XYChart c = base(title, x, "dev accuracy");
        for (Run r : runs) c.addSeries(r.label(), xs(r.points(), xOf), xs(r.points(), Point::devAccuracy)).setMarker(SeriesMarkers.CIRCLE);
        List<Double> bx = new ArrayList<>(), by = new ArrayList<>();
        for (Run r : runs) {
            for (Point p : r.points()) {
                if (!p.best()) continue;
                bx.add(xOf.applyAsDouble(p));
                by.add(p.devAccuracy());
            }
        }
        if (!bx.isEmpty()) {
            XYSeries s = c.addSeries("new best model (served)", bx, by);
            s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            s.setMarker(SeriesMarkers.DIAMOND);
            s.setMarkerColor(new Color(200, 30, 30));
        }
        return c;
    }

    private static XYChart loss(List<Run> runs) {
        XYChart c = base("Loss", "step", "loss");
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        for (Run r : runs) {
            String name = runs.size() == 1 ? "" : r.summary().name() + ": ";
            c.addSeries(name + "dev loss", xs(r.points(), Point::step), xs(r.points(), Point::devLoss)).setMarker(SeriesMarkers.CIRCLE);
            c.addSeries(name + "train loss (mean since the previous evaluation)", xs(r.points(), Point::step), xs(r.points(), Point::trainLoss))
                    .setMarker(SeriesMarkers.SQUARE);
        }
        return c;
    }

    private static XYChart perRun(String title, String x, String y, List<Run> runs, ToDoubleFunction<Point> xOf, ToDoubleFunction<Point> yOf,
                                  Predicate<Point> has) {
        XYChart c = base(title, x, y);
        for (Run r : runs) {
            List<Point> ps = r.points().stream().filter(has).toList();
            if (!ps.isEmpty()) c.addSeries(r.label(), xs(ps, xOf), xs(ps, yOf)).setMarker(SeriesMarkers.CIRCLE);
        }
        return c;
    }

    private static double[] xs(List<Point> points, ToDoubleFunction<Point> f) {
        return points.stream().mapToDouble(f).toArray();
    }

    // ---- serving

    private static String servingSummary(List<JsonNode> serving) {
        long requests = serving.stream().mapToLong(n -> n.path("requests").asLong()).sum();
        long errors = serving.stream().mapToLong(n -> n.path("errors").asLong()).sum();
        var all = new ServingStats.Snapshot(requests, errors, summedHistogram(serving), -1);
        return String.format(Locale.ROOT, "Serving figures: %d interval(s), %d requests (%d errors), latency p50 %.0f ms, p99 %.0f ms "
                + "(from the Kafka record's timestamp to the answer; histogram buckets 19%% wide).", serving.size(), requests, errors,
                all.percentileMillis(0.5), all.percentileMillis(0.99));
    }

    private static long[] summedHistogram(List<JsonNode> serving) {
        long[] sum = null;
        for (JsonNode n : serving) {
            JsonNode h = n.path("latency_histogram");
            if (sum == null) sum = new long[h.size()];
            for (int i = 0; i < Math.min(sum.length, h.size()); i++) sum[i] += h.get(i).asLong();
        }
        return sum == null ? new long[0] : sum;
    }

    private static CategoryChart latencyChart(long[] histogram) {
        int first = 0, last = histogram.length - 1;
        while (first < last && histogram[first] == 0) first++;
        while (last > first && histogram[last] == 0) last--;
        List<String> labels = new ArrayList<>();
        List<Long> counts = new ArrayList<>();
        for (int i = first; i <= last; i++) {
            labels.add(String.format(Locale.ROOT, "%.0f", ServingStats.upperEdgeMillis(i)));
            counts.add(histogram[i]);
        }
        CategoryChart c = new CategoryChartBuilder().width(WIDTH).height(HEIGHT)
                .title("Prediction latency").xAxisTitle("latency up to (ms)").yAxisTitle("requests").build();
        c.getStyler().setLegendVisible(false);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setXAxisLabelRotation(60);
        c.addSeries("requests", labels, counts);
        return c;
    }

    private static XYChart servingRate(List<JsonNode> serving) {
        double t0 = Instant.parse(serving.get(0).path("time").asText()).toEpochMilli() / 1000.0;
        XYChart rate = base("Requests answered per second", "seconds since the first interval", "requests/s");
        rate.addSeries("requests/s", serving.stream().mapToDouble(n -> Instant.parse(n.path("time").asText()).toEpochMilli() / 1000.0 - t0).toArray(),
                serving.stream().mapToDouble(n -> n.path("per_second").asDouble()).toArray()).setMarker(SeriesMarkers.CIRCLE);
        return rate;
    }

    private static String decisionSummary(List<JsonNode> decisions) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "Shadow promotion: %d candidate(s) decided.", decisions.size()));
        for (JsonNode d : decisions) {
            b.append(String.format(Locale.ROOT, " %s: %s step %d (serving step %d, %d requests): %s.", d.path("time").asText(), d.path("event").asText(),
                    d.at("/candidate/step").asLong(), d.at("/serving/step").asLong(), d.path("requests").asLong(), d.path("reason").asText()));
        }
        return b.toString();
    }

    /**
     * The model timeline: the step of the serving model over time, and each shadowed candidate at the moment it
     * was decided, promoted or refused.
     */
    private static XYChart modelTimeline(List<JsonNode> decisions) {
        double t0 = seconds(decisions.get(0)) - decisions.get(0).path("window_seconds").asDouble();
        XYChart c = base("Served model and candidates (shadow promotion)", "seconds since the first candidate", "model step");
        List<Double> tx = new ArrayList<>(List.of(0.0)), ty = new ArrayList<>(List.of(decisions.get(0).at("/serving/step").asDouble()));
        for (JsonNode d : decisions) {
            if (!d.path("event").asText().equals("promoted")) continue;
            tx.add(seconds(d) - t0);
            ty.add(d.at("/serving/step").asDouble());
            tx.add(seconds(d) - t0);
            ty.add(d.at("/candidate/step").asDouble());
        }
        tx.add(seconds(decisions.get(decisions.size() - 1)) - t0);
        ty.add(ty.get(ty.size() - 1));
        c.addSeries("serving model", tx, ty).setMarker(SeriesMarkers.NONE);
        for (var kind : List.of(Map.entry("promoted", new Color(30, 150, 60)), Map.entry("refused", new Color(200, 30, 30)))) {
            List<JsonNode> ds = decisions.stream().filter(d -> d.path("event").asText().equals(kind.getKey())).toList();
            if (ds.isEmpty()) continue;
            XYSeries s = c.addSeries("candidate " + kind.getKey(), ds.stream().map(d -> seconds(d) - t0).toList(), ds.stream().map(d -> d.at("/candidate/step").asDouble()).toList());
            s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            s.setMarker(kind.getKey().equals("promoted") ? SeriesMarkers.TRIANGLE_UP : SeriesMarkers.CROSS);
            s.setMarkerColor(kind.getValue());
        }
        return c;
    }

    private static double seconds(JsonNode line) {
        return Instant.parse(line.path("time").asText()).toEpochMilli() / 1000.0;
    }

    // ---- the page

    private static final List<Map.Entry<String, Function<RunSummary, String>>> RUN_COLUMNS = List.of(
            Map.entry("#", r -> (r.serving() ? "* " : "") + (r.id() == null ? "-" : Integer.toString(r.number()))),
            Map.entry("run", RunSummary::name),
            Map.entry("state", RunSummary::state),
            Map.entry("trainer", r -> String.valueOf(r.setup().trainer())),
            Map.entry("data", r -> String.valueOf(r.setup().data())),
            Map.entry("model", r -> String.valueOf(r.setup().model())),
            Map.entry("input", r -> Objects.requireNonNullElse(r.setup().input(), "-")),
            Map.entry("workers x batch", r -> Objects.requireNonNullElse(setting(r, "workers"), "-") + " x " + Objects.requireNonNullElse(setting(r, "batch"), "-")),
            Map.entry("learning rate", r -> Objects.requireNonNullElse(setting(r, "learning-rate"), "-")),
            Map.entry("epochs", r -> Objects.requireNonNullElse(setting(r, "epochs"), "-")),
            Map.entry("steps", r -> r.reached().steps() == null ? "-" : r.reached().steps().toString()),
            Map.entry("best dev accuracy", r -> r.reached().bestDevAccuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f (step %d)", r.reached().bestDevAccuracy(), r.reached().bestStep())),
            Map.entry("test accuracy", r -> r.reached().testAccuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f", r.reached().testAccuracy())),
            Map.entry("training time", r -> r.reached().wallSeconds() == null ? "-" : Progress.clock(r.reached().wallSeconds())));

    /** A setting of the run, or null when its record has none (the earlier layout kept only a few). */
    private static String setting(RunSummary r, String key) {
        Object v = r.settings() == null ? null : r.settings().get(key);
        return v == null ? null : String.valueOf(v);
    }

    private static String page(String source, List<Run> runs, String images, String servingText) {
        StringBuilder table = new StringBuilder("<table><tr>");
        RUN_COLUMNS.forEach(c -> table.append("<th>").append(html(c.getKey())).append("</th>"));
        table.append("</tr>\n");
        StringBuilder evaluations = new StringBuilder();
        int count = 0;
        for (Run r : runs) {
            table.append(r.summary().serving() ? "<tr class=\"best\">" : "<tr>");
            RUN_COLUMNS.forEach(c -> table.append("<td>").append(html(c.getValue().apply(r.summary()))).append("</td>"));
            table.append("</tr>\n");
            evaluations.append(evaluationTable(r));
            count += r.points().size();
        }
        table.append("</table>");
        String served = runs.stream().filter(r -> r.summary().serving()).findFirst()
                .map(r -> String.format(Locale.ROOT, "Served model (best.json): step %d of %s, dev accuracy %.4f.", r.summary().reached().bestStep(),
                        r.summary().id() == null ? "the earlier layout's run" : "run " + r.summary().id(), r.summary().reached().bestDevAccuracy()))
                .orElse("Served model (best.json): none of these runs.");
        return """
                <!DOCTYPE html>
                <html lang="en"><head><meta charset="utf-8"><title>LiveTrain report: %1$s</title>
                <style>body{font-family:sans-serif;margin:2em;max-width:1100px}figure{margin:1.5em 0}img{max-width:100%%;border:1px solid #ddd}
                table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}td{white-space:nowrap}tr.best{background:#fde8e8}</style></head>
                <body><h1>LiveTrain report</h1>
                <p>Checkpoint directory: <code>%1$s</code> &middot; %2$d run(s), %3$d evaluation(s) &middot; written %4$s.</p>
                <p>%5$s</p>
                <h2>Runs</h2>
                %6$s
                <p>%7$s</p>
                %8$s
                <h2>Evaluations</h2>
                %9$s
                </body></html>
                """.formatted(html(source), runs.size(), count, Instant.now().toString(), html(served), table, html(servingText), images, evaluations);
    }

    private static String evaluationTable(Run r) {
        StringBuilder rows = new StringBuilder();
        for (Point p : r.points()) {
            rows.append(String.format(Locale.ROOT, "<tr%s><td>%d</td><td>%d</td><td>%.0f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.0f</td><td>%s</td></tr>%n",
                    p.best() ? " class=\"best\"" : "", p.step(), p.epoch(), p.seconds(), p.devAccuracy(), p.devLoss(), p.trainLoss(), p.examplesPerSecond(),
                    p.pushPullShare() == null ? "" : String.format(Locale.ROOT, "%.1f%%", 100 * p.pushPullShare())));
        }
        return "<h3>" + html(r.label()) + " (" + r.points().size() + ")</h3>\n<table><tr><th>step</th><th>epoch</th><th>seconds</th><th>dev accuracy</th>"
                + "<th>dev loss</th><th>train loss</th><th>examples/s</th><th>push/pull</th></tr>\n" + rows + "</table>\n";
    }

    private static String html(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
