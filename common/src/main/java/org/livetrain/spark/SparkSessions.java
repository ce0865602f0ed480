package org.livetrain.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import scala.Option;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Creates the Spark session of a LiveTrain command. Under {@code spark-submit} the master and everything
 * else come from spark-submit; run directly (local mode) the session gets {@code local[threads]}, and all
 * of Spark's listeners bind to 127.0.0.1.
 */
public final class SparkSessions {
    private SparkSessions() {
    }

    /** The session already running in this JVM (spark-shell's, an application's own), if any. */
    public static Optional<SparkSession> existing() {
        Option<SparkSession> active = SparkSession.getActiveSession();
        Option<SparkSession> found = active.isDefined() ? active : SparkSession.getDefaultSession();
        return found.isDefined() && !found.get().sparkContext().isStopped() ? Optional.of(found.get()) : Optional.empty();
    }

    /** True when spark-submit (or a user's spark-defaults) chose a master. */
    public static boolean submitted() {
        return new SparkConf().contains("spark.master");
    }

    /** The glibc setting submit.sh exports: two malloc arenas, so that freed native memory is reused across threads. */
    public static final Map<String, String> MALLOC_ENV = Map.of("MALLOC_ARENA_MAX", "2");

    public static SparkSession create(String appName, int localThreads, Map<String, String> extraConf) {
        SparkConf conf = new SparkConf().setAppName(appName);
        if (!conf.contains("spark.master")) {
            // local[N,F]: a failed task is retried as on a cluster (a barrier stage is retried as a whole)
            conf.setMaster("local[" + Math.max(1, localThreads) + ",4]");
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.ui.showConsoleProgress", "false");
            conf.setIfMissing("spark.sql.shuffle.partitions", String.valueOf(Math.max(1, localThreads)));
            // Spark's UI binds to SPARK_LOCAL_IP, or to every interface when it is unset (submit.sh sets it
            // to 127.0.0.1); a JVM started some other way gets no UI rather than one open to the network
            if (System.getenv("SPARK_LOCAL_IP") == null) conf.setIfMissing("spark.ui.enabled", "false");
            // metrics on the UI's port (127.0.0.1 here), in Prometheus' text format: the driver's and the plugin's at
            // /metrics/prometheus, the executors' summaries at /metrics/executors/prometheus
            conf.setIfMissing(PROMETHEUS + "class", "org.apache.spark.metrics.sink.PrometheusServlet");
            conf.setIfMissing(PROMETHEUS + "path", METRICS_PATH);
            conf.setIfMissing("spark.ui.prometheus.enabled", "true");
        }
        // metric names without the application id, so that dashboards and alerts survive a restart
        conf.setIfMissing("spark.metrics.namespace", "livetrain");
        extraConf.forEach(conf::set);
        // ND4J sizes its native thread pool from OMP_NUM_THREADS when the JVM starts, and nothing set later
        // changes it (measured: 2 tasks x 2 threads on 2 cores made a step 30-40% slower). Executors get
        // the cores Spark grants a task; in local mode the tasks share this JVM, which submit.sh starts
        // with OMP_NUM_THREADS=1.
        conf.setIfMissing("spark.executorEnv.OMP_NUM_THREADS", conf.get("spark.task.cpus", "1"));
        // glibc keeps freed native memory in per-thread arenas; fewer arenas let threads reuse it, as
        // submit.sh does for local mode (see NativeMemory)
        MALLOC_ENV.forEach((k, v) -> conf.setIfMissing("spark.executorEnv." + k, v));
        for (Class<?> plugin : List.of(NativeKernelsPlugin.class, MetricsPlugin.class)) {
            String plugins = conf.get("spark.plugins", "");
            if (!plugins.contains(plugin.getName())) conf.set("spark.plugins", plugins.isBlank() ? plugin.getName() : plugins + "," + plugin.getName());
        }
        return SparkSession.builder().config(conf).getOrCreate();
    }

    static final String PROMETHEUS = "spark.metrics.conf.*.sink.prometheusServlet.";
    static final String METRICS_PATH = "/metrics/prometheus";

    /** Where the driver's metrics can be read in Prometheus' format, when its UI runs and the servlet is configured. */
    public static Optional<String> metricsUrl(SparkSession spark) {
        var conf = spark.sparkContext().getConf();
        if (!conf.contains(PROMETHEUS + "class") && !conf.contains("spark.metrics.conf")) return Optional.empty();
        Option<String> ui = spark.sparkContext().uiWebUrl();
        String path = conf.get(PROMETHEUS + "path", METRICS_PATH);
        // Spark's handler answers the path with a slash and redirects there from the path without one
        return ui.isDefined() ? Optional.of(ui.get() + path + (path.endsWith("/") ? "" : "/")) : Optional.empty();
    }
}
