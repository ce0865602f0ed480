package org.livetrain.report;

import com.fasterxml.jackson.databind.JsonNode;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.livetrain.LiveTrainException;

import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Charts of a training run from its {@code history.jsonl} (one line per evaluation), as PNG files, and
 * one HTML page that embeds them (and links the files): dev accuracy against step and against wall time
 * with the moments the best model changed marked, losses, training throughput and, for the BytePS
 * trainer, the push/pull share of a step. Works on a run that is still writing.
 */
public final class Report {
    /** One evaluation of the run. */
    public record Point(long step, int epoch, double seconds, double devAccuracy, double devLoss, double trainLoss,
                        double examplesPerSecond, boolean best, Double pushPullShare) {
        static Point of(JsonNode n) {
            JsonNode stats = n.path("stats");
            return new Point(n.path("step").asLong(), n.path("epoch").asInt(), n.path("elapsed_seconds").asDouble(),
                    n.path("dev_accuracy").asDouble(), n.path("dev_loss").asDouble(), n.path("train_loss").asDouble(),
                    n.path("examples_per_second").asDouble(), n.path("best").asBoolean(),
                    stats.has("push_pull_share") ? stats.get("push_pull_share").asDouble() : null);
        }
    }

    static final int WIDTH = 900, HEIGHT = 480;

    private Report() {
    }

    public static List<Point> points(List<JsonNode> history) {
        return history.stream().map(Point::of).toList();
    }

    /**
     * Writes the charts and {@code index.html} into {@code out}; returns the files written, the page last.
     *
     * @param source what the page says the run is (its checkpoint directory)
     */
    public static List<Path> write(String source, List<JsonNode> history, Path out) {
        return write(source, history, List.of(), out);
    }

    /** @param serving the Kafka scorers' interval figures ({@code serving-stats.jsonl}), possibly none */
    public static List<Path> write(String source, List<JsonNode> history, List<JsonNode> serving, Path out) {
        if (history.isEmpty()) throw new LiveTrainException(source + ": no evaluations recorded yet (history.jsonl is empty or missing)");
        List<Point> points = points(history);
        JsonNode last = history.get(history.size() - 1);
        Map<String, org.knowm.xchart.internal.chartpart.Chart<?, ?>> charts = new LinkedHashMap<>();
        charts.put("dev-accuracy-by-step", accuracy(points, "step", p -> p.step()));
        charts.put("dev-accuracy-by-time", accuracy(points, "seconds since the start of training", Point::seconds));
        charts.put("loss", loss(points));
        charts.put("throughput", line("Training throughput", "step", "examples/s", points, p -> p.step(), Point::examplesPerSecond, "examples/s"));
        if (points.stream().anyMatch(p -> p.pushPullShare() != null)) {
            List<Point> withShare = points.stream().filter(p -> p.pushPullShare() != null).toList();
            charts.put("push-pull-share", line("Push/pull share of a BytePS step", "step", "% of the step", withShare, p -> p.step(),
                    p -> 100 * p.pushPullShare(), "push/pull"));
        }
        long[] latency = new long[0];
        String servingText = "Serving figures: none recorded for this run.";
        if (!serving.isEmpty()) {
            latency = summedHistogram(serving);
            long requests = serving.stream().mapToLong(n -> n.path("requests").asLong()).sum();
            long errors = serving.stream().mapToLong(n -> n.path("errors").asLong()).sum();
            var all = new org.livetrain.kafka.ServingStats.Snapshot(requests, errors, latency, -1);
            servingText = String.format(Locale.ROOT, "Serving figures: %d interval(s), %d requests (%d errors), latency p50 %.0f ms, p99 %.0f ms "
                    + "(from the Kafka record's timestamp to the answer; histogram buckets 19%% wide).", serving.size(), requests, errors,
                    all.percentileMillis(0.5), all.percentileMillis(0.99));
            charts.put("latency", latencyChart(latency));
            double t0 = java.time.Instant.parse(serving.get(0).path("time").asText()).toEpochMilli() / 1000.0;
            XYChart rate = base("Requests answered per second", "seconds since the first interval", "requests/s");
            rate.addSeries("requests/s", serving.stream().mapToDouble(n -> java.time.Instant.parse(n.path("time").asText()).toEpochMilli() / 1000.0 - t0).toArray(),
                    serving.stream().mapToDouble(n -> n.path("per_second").asDouble()).toArray()).setMarker(SeriesMarkers.CIRCLE);
            charts.put("serving-throughput", rate);
        }
        List<Path> files = new ArrayList<>();
        try {
            Files.createDirectories(out);
            StringBuilder images = new StringBuilder();
            for (var e : charts.entrySet()) {
                Path png = out.resolve(e.getKey() + ".png");
                BitmapEncoder.saveBitmap(e.getValue(), png.toString(), BitmapEncoder.BitmapFormat.PNG);
                files.add(png);
                String data = Base64.getEncoder().encodeToString(Files.readAllBytes(png));
                images.append("<figure><a href=\"").append(png.getFileName()).append("\"><img alt=\"").append(e.getValue().getTitle())
                        .append("\" src=\"data:image/png;base64,").append(data).append("\"></a><figcaption>").append(html(e.getValue().getTitle()))
                        .append(" (<a href=\"").append(png.getFileName()).append("\">").append(png.getFileName()).append("</a>)</figcaption></figure>\n");
            }
            Path page = out.resolve("index.html");
            Files.writeString(page, page(source, points, last, images.toString(), servingText), StandardCharsets.UTF_8);
            files.add(page);
        } catch (IOException e) {
            throw new LiveTrainException(out + ": cannot write the report (" + e.getMessage() + ")", e);
        }
        return files;
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

    private static org.knowm.xchart.CategoryChart latencyChart(long[] histogram) {
        int first = 0, last = histogram.length - 1;
        while (first < last && histogram[first] == 0) first++;
        while (last > first && histogram[last] == 0) last--;
        List<String> labels = new ArrayList<>();
        List<Long> counts = new ArrayList<>();
        for (int i = first; i <= last; i++) {
            labels.add(String.format(Locale.ROOT, "%.0f", org.livetrain.kafka.ServingStats.upperEdgeMillis(i)));
            counts.add(histogram[i]);
        }
        org.knowm.xchart.CategoryChart c = new org.knowm.xchart.CategoryChartBuilder().width(WIDTH).height(HEIGHT)
                .title("Prediction latency").xAxisTitle("latency up to (ms)").yAxisTitle("requests").build();
        c.getStyler().setLegendVisible(false);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setXAxisLabelRotation(60);
        c.addSeries("requests", labels, counts);
        return c;
    }

    private static XYChart base(String title, String x, String y) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setPlotGridLinesColor(new Color(225, 225, 225));
        c.getStyler().setAntiAlias(true);
        return c;
    }

    private static XYChart accuracy(List<Point> points, String x, ToDoubleFunction<Point> xOf) {
        XYChart c = base("Dev accuracy", x, "dev accuracy");
        c.addSeries("dev accuracy", xs(points, xOf), xs(points, Point::devAccuracy)).setMarker(SeriesMarkers.CIRCLE);
        List<Point> best = points.stream().filter(Point::best).toList();
        if (!best.isEmpty()) {
            XYSeries s = c.addSeries("new best model", xs(best, xOf), xs(best, Point::devAccuracy));
            s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            s.setMarker(SeriesMarkers.DIAMOND);
            s.setMarkerColor(new Color(200, 30, 30));
        }
        return c;
    }

    private static XYChart loss(List<Point> points) {
        XYChart c = base("Loss", "step", "loss");
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        c.addSeries("dev loss", xs(points, p -> p.step()), xs(points, Point::devLoss)).setMarker(SeriesMarkers.CIRCLE);
        c.addSeries("train loss (mean since the previous evaluation)", xs(points, p -> p.step()), xs(points, Point::trainLoss)).setMarker(SeriesMarkers.SQUARE);
        return c;
    }

    private static XYChart line(String title, String x, String y, List<Point> points, ToDoubleFunction<Point> xOf, ToDoubleFunction<Point> yOf, String name) {
        XYChart c = base(title, x, y);
        c.addSeries(name, xs(points, xOf), xs(points, yOf)).setMarker(SeriesMarkers.CIRCLE);
        return c;
    }

    private static double[] xs(List<Point> points, ToDoubleFunction<Point> f) {
        return points.stream().mapToDouble(f).toArray();
    }

    private static String page(String source, List<Point> points, JsonNode last, String images, String servingText) {
        Point best = points.stream().filter(Point::best).reduce((a, b) -> b).orElse(points.get(0));
        Point end = points.get(points.size() - 1);
        StringBuilder rows = new StringBuilder();
        for (Point p : points) {
            rows.append(String.format(Locale.ROOT, "<tr%s><td>%d</td><td>%d</td><td>%.0f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.0f</td><td>%s</td></tr>%n",
                    p.best() ? " class=\"best\"" : "", p.step(), p.epoch(), p.seconds(), p.devAccuracy(), p.devLoss(), p.trainLoss(), p.examplesPerSecond(),
                    p.pushPullShare() == null ? "" : String.format(Locale.ROOT, "%.1f%%", 100 * p.pushPullShare())));
        }
        return """
                <!DOCTYPE html>
                <html lang="en"><head><meta charset="utf-8"><title>LiveTrain report: %1$s</title>
                <style>body{font-family:sans-serif;margin:2em;max-width:960px}figure{margin:1.5em 0}img{max-width:100%%;border:1px solid #ddd}
                table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}tr.best{background:#fde8e8}</style></head>
                <body><h1>LiveTrain report</h1>
                <p>Run: <code>%1$s</code> &middot; %2$s on %3$s, trainer %4$s, %5$d worker(s) &middot; %6$d evaluation(s), the last at step %7$d
                (epoch %8$d, %9$.0f s, written %10$s).</p>
                <p>Best model: step %11$d, dev accuracy %12$.4f.</p>
                <p>%15$s</p>
                %13$s
                <h2>Evaluations</h2>
                <table><tr><th>step</th><th>epoch</th><th>seconds</th><th>dev accuracy</th><th>dev loss</th><th>train loss</th><th>examples/s</th><th>push/pull</th></tr>
                %14$s</table>
                </body></html>
                """.formatted(html(source), html(last.path("model").asText()), html(last.path("data").asText()), html(last.path("trainer").asText()),
                last.path("workers").asInt(), points.size(), end.step(), end.epoch(), end.seconds(), html(last.path("created").asText()),
                best.step(), best.devAccuracy(), images, rows, html(servingText));
    }

    private static String html(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
