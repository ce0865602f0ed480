package org.livetrain.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.livetrain.cli.LiveTrain;
import org.livetrain.kafka.LocalKafkaBroker;
import org.livetrain.store.CheckpointStore;
import org.apache.hadoop.conf.Configuration;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What an operator sees of a real `train` and a real `stream` with the tools Spark users already have: the
 * driver's Prometheus endpoint (scraped over HTTP on 127.0.0.1 while they run) and the Spark UI's REST API.
 */
@Tag("slow")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MetricsTest {
    /** Every sample name the scrapes of this class saw. */
    static final Set<String> SCRAPED = ConcurrentHashMap.newKeySet();
    static final String PLUGIN = "metrics_livetrain_driver_plugin_org_livetrain_spark_MetricsPlugin_";
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final Pattern URL = Pattern.compile("metrics \\(Prometheus\\): (http://127\\.0\\.0\\.1:\\d+/metrics/prometheus/); Spark UI: (http://127\\.0\\.0\\.1:\\d+)");

    @TempDir
    Path dir;

    /** A command running in this JVM, its output readable while it runs. */
    static final class Running {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final AtomicInteger exit = new AtomicInteger(-1);
        final Thread thread;

        Running(String... args) {
            PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8);
            thread = new Thread(() -> exit.set(LiveTrain.execute(args, new ByteArrayInputStream(new byte[0]), ps, ps)));
            thread.start();
        }

        String output() {
            return out.toString(StandardCharsets.UTF_8);
        }

        /** The metrics URL and the UI's, once printed (60 s at most). */
        Matcher urls() throws InterruptedException {
            long end = System.nanoTime() + 60_000_000_000L;
            while (System.nanoTime() < end) {
                Matcher m = URL.matcher(output());
                if (m.find()) return m;
                Thread.sleep(100);
            }
            throw new AssertionError("no metrics URL printed: " + output());
        }
    }

    /** One scrape: each sample's name (without its labels) and value. */
    static Map<String, Double> scrape(String url) throws IOException, InterruptedException {
        String body = get(url);
        Map<String, Double> m = new LinkedHashMap<>();
        for (String line : body.split("\n")) {
            int brace = line.indexOf('{'), space = line.lastIndexOf(' ');
            if (line.isBlank() || line.startsWith("#") || space < 0) continue;
            m.put(line.substring(0, brace >= 0 ? brace : space), Double.parseDouble(line.substring(space + 1)));
        }
        SCRAPED.addAll(m.keySet());
        return m;
    }

    static String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), url + ": " + r.body());
        return r.body();
    }

    static double delta(Map<String, Double> before, Map<String, Double> after, String name) {
        return value(after, name) - value(before, name);
    }

    static double value(Map<String, Double> scrape, String name) {
        Double v = scrape.get(PLUGIN + name);
        assertNotNull(v, PLUGIN + name + " in " + scrape.keySet().stream().filter(k -> k.startsWith(PLUGIN)).toList());
        return v;
    }

    @Test
    @Order(1)
    void aTrainingRunIsWatchedThroughPrometheusAndTheSparkUi() throws Exception {
        Path ckpt = dir.resolve("ckpt");
        Running train = new Running("train", "--epochs", "2", "--eval-every", "20", "--checkpoint-dir", ckpt.toString());
        Matcher urls = train.urls();
        String metrics = urls.group(1), ui = urls.group(2);
        List<Map<String, Double>> scrapes = new ArrayList<>();
        JsonNode jobs = null;
        while (train.thread.isAlive()) {
            try {
                scrapes.add(scrape(metrics));
                String app = new ObjectMapper().readTree(get(ui + "/api/v1/applications")).get(0).get("id").asText();
                jobs = new ObjectMapper().readTree(get(ui + "/api/v1/applications/" + app + "/jobs"));
            } catch (IOException e) { // the run ended between two scrapes and took its UI with it
                break;
            }
            Thread.sleep(1000);
        }
        train.thread.join();
        assertEquals(0, train.exit.get(), train.output());
        // the figures of this JVM's earlier runs are in the counts too: this run's are the differences
        List<Map<String, Double>> during = scrapes.stream().filter(s -> s.containsKey(PLUGIN + "workers_steps_Number") && value(s, "workers_executors_Number") >= 1).toList();
        assertTrue(during.size() >= 3, "scraped " + scrapes.size() + " times: " + train.output());
        double steps = -1, best = -1;
        for (Map<String, Double> s : during) { // worker steps grow, the best accuracy never falls (NaN: no evaluation yet)
            assertTrue(value(s, "workers_steps_Number") >= steps);
            steps = value(s, "workers_steps_Number");
            double b = value(s, "driver_best_dev_accuracy_Number");
            assertTrue(Double.isNaN(b) || b >= best, "best " + b + " after " + best);
            if (!Double.isNaN(b)) best = b;
        }
        assertTrue(best > 0.5, "evaluations reached the metrics: " + best);
        Map<String, Double> first = during.get(0), last = during.get(during.size() - 1);
        double stepped = value(last, "workers_steps_Number") - value(first, "workers_steps_Number");
        assertTrue(stepped > 0, "steps grew: " + during);
        assertTrue(delta(first, last, "workers_examples_Number") >= 60 * stepped, "examples: a batch of 64 per step (the last of an epoch may be smaller)");
        for (String grows : List.of("workers_compute_seconds_Number", "workers_exchange_seconds_Number", "workers_bytes_pushed_Number", "workers_bytes_pulled_Number",
                "workers_server_rounds_Number", "executor_steps_Number")) {
            assertTrue(delta(first, last, grows) > 0, grows + " grew (executor_*: the executor's own names, distinct from the driver's)");
        }
        assertTrue(value(last, "workers_offheap_bytes_Number") > 0);
        assertTrue(value(last, "driver_run_number_Number") >= 1);
        assertEquals(1, value(last, "driver_attempt_Number"));
        assertNotNull(jobs, "the UI's REST API answered");
        String id = CheckpointStore.open(ckpt.toString(), new Configuration()).newestRun().orElseThrow().id();
        String descriptions = jobs.findValuesAsText("description").toString();
        assertTrue(descriptions.contains("LiveTrain run " + id + ", attempt 1: byteps, 2 workers, 2 epochs"), descriptions);
    }

    @Test
    @Order(2)
    void theScorersAnswersAreCountedInItsHistogram() throws Exception {
        Path ckpt = dir.resolve("served");
        assertEquals(0, Cli.run("train", "--epochs", "1", "--eval-every", "63", "--checkpoint-dir", ckpt.toString()).exitCode());
        Path seven = Path.of(System.getProperty("livetrain.repo", "..")).resolve("data/demo/seven.png").toAbsolutePath();
        LocalKafkaBroker broker = SharedBroker.get();
        Running stream = new Running("stream", "--bootstrap-servers", broker.bootstrapServers(), "--input-topic", "metrics-in", "--output-topic", "metrics-out",
                "--checkpoint-dir", ckpt.toString(), "--allowed-roots", seven.getParent().toString(), "--stats-every", "0");
        try {
            Matcher urls = stream.urls();
            Map<String, Double> before = scrape(urls.group(1));
            for (long end = System.nanoTime() + 30_000_000_000L; value(before, "workers_executors_Number") < 1 && System.nanoTime() < end; ) {
                Thread.sleep(200);
                before = scrape(urls.group(1));
            }
            try (var p = new KafkaProducer<String, String>(Map.of("bootstrap.servers", broker.bootstrapServers()), new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 40; i++) p.send(new ProducerRecord<>("metrics-in", "m-" + i, seven.toString()));
                p.send(new ProducerRecord<>("metrics-in", "bad", "/nowhere.png"));
            }
            long end = System.nanoTime() + 120_000_000_000L;
            Map<String, Double> s = scrape(urls.group(1));
            // the driver counts as each micro-batch ends; the executors report every 2 s; the counts hold this
            // JVM's earlier scorers too: this one's are the differences
            while ((delta(before, s, "driver_serving_requests_Number") < 41 || delta(before, s, "workers_answers_Number") < 41) && System.nanoTime() < end) {
                Thread.sleep(500);
                s = scrape(urls.group(1));
            }
            assertEquals(41, delta(before, s, "driver_serving_requests_Number"), "requests sent, answered");
            assertEquals(41, delta(before, s, "serving_latency_ms_Count"), "the latency histogram holds every answer");
            assertEquals(41, delta(before, s, "serving_scoring_ms_Count"), "scoring time: every answer");
            assertEquals(1, delta(before, s, "driver_serving_errors_Number"));
            assertEquals(41, delta(before, s, "workers_answers_Number"));
            assertEquals(1, delta(before, s, "workers_unreadable_images_Number"), "the error's kind: a file that is not there");
            assertEquals(0, delta(before, s, "workers_refused_requests_Number") + delta(before, s, "workers_no_model_answers_Number"));
            assertEquals(63, value(s, "driver_serving_model_step_Number"));
            assertTrue(value(s, "driver_serving_model_age_seconds_Number") > 0);
            assertTrue(value(s, "serving_batch_size_Count") >= 1);
            String page = get(urls.group(2) + "/StreamingQuery/");
            assertTrue(page.contains("livetrain-scorer-metrics-in"), "the query has a name in the UI");
        } finally {
            stream.thread.interrupt();
            stream.thread.join(60_000);
        }
    }

    /**
     * The Grafana dashboard of docs/: the fields Grafana's JSON model needs to import it (a title, a uid, a schema
     * version, panels with a type, a title, a place and queries), and every metric its queries use is one a real
     * scrape above had.
     */
    @Test
    @Order(3)
    void theDashboardAsksOnlyForMetricsAScrapeHas() throws Exception {
        assertTrue(SCRAPED.size() > 50, "the scrapes ran first: " + SCRAPED.size());
        Path file = Path.of(System.getProperty("livetrain.repo", "..")).resolve("docs/grafana/livetrain-dashboard.json");
        JsonNode d = new ObjectMapper().readTree(file.toFile());
        assertTrue(d.path("title").isTextual() && d.path("uid").isTextual() && d.path("schemaVersion").isInt() && d.path("schemaVersion").asInt() >= 36, "dashboard fields");
        assertTrue(d.path("panels").isArray() && d.path("panels").size() > 10);
        Set<String> used = new TreeSet<>();
        Pattern metric = Pattern.compile("metrics_livetrain_[A-Za-z0-9_]+");
        for (JsonNode p : d.get("panels")) {
            assertTrue(p.path("type").isTextual() && p.path("title").isTextual() && p.path("id").isInt(), p.toString());
            for (String k : List.of("h", "w", "x", "y")) assertTrue(p.path("gridPos").path(k).isInt(), p.path("title") + ": gridPos." + k);
            if (p.path("type").asText().equals("row")) continue;
            assertTrue(p.path("targets").isArray() && !p.path("targets").isEmpty(), p.path("title") + ": targets");
            for (JsonNode t : p.get("targets")) {
                assertTrue(t.path("refId").isTextual() && t.path("expr").isTextual(), p.path("title") + ": " + t);
                Matcher m = metric.matcher(t.get("expr").asText());
                while (m.find()) used.add(m.group());
            }
        }
        List<String> missing = used.stream().filter(u -> !SCRAPED.contains(u)).toList();
        assertTrue(missing.isEmpty(), "asked for but never scraped: " + missing);
        assertTrue(used.size() > 30, "the dashboard covers training and serving: " + used.size() + " metrics");
    }
}
