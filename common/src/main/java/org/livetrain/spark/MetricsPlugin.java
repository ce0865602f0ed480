package org.livetrain.spark;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.bytedeco.javacpp.Pointer;
import org.livetrain.metrics.Readings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Serializable;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * LiveTrain's {@link Readings} in Spark's metrics system, so that every sink a cluster configures exports them
 * (Prometheus at {@code /metrics/prometheus} on the driver's UI, JMX, Graphite, ...). Names, under the source
 * {@code plugin.org.livetrain.spark.MetricsPlugin} (and {@code spark.metrics.namespace}, which
 * {@link SparkSessions} sets to {@code livetrain}):
 * <pre>
 * driver.NAME     the driver's readings: the run, its attempts, the served checkpoint, the Kafka scorer
 * workers.executors  how many executors have reported
 * workers.NAME    every executor's worker readings, combined: each executor sends its own every
 *                 {@value #REPORT_SECONDS} s through the plugin's messages, since Spark exports an executor
 *                 plugin's metrics only from that executor's own sinks. Counts are cumulative per JVM (a
 *                 JVM that runs several applications one after another counts them all)
 * executor.NAME   this executor's own readings (on a cluster, for the executors' sinks; in local mode the driver's
 *                 endpoint shows them too, under these distinct names)
 * serving.latency_ms, serving.scoring_ms, serving.batch_size   histograms of the Kafka scorer's answers
 * </pre>
 */
public final class MetricsPlugin implements SparkPlugin {
    static final int REPORT_SECONDS = 2;
    private static final Logger LOG = LoggerFactory.getLogger(MetricsPlugin.class);

    /** An executor's worker readings, in {@link Readings.Worker} order. */
    record Report(String executor, double[] workers) implements Serializable {
    }

    @Override
    public DriverPlugin driverPlugin() {
        return new DriverPlugin() {
            private final Map<String, double[]> reports = new ConcurrentHashMap<>();

            @Override
            public Map<String, String> init(SparkContext sc, PluginContext ctx) {
                MetricRegistry r = ctx.metricRegistry();
                for (Readings.Driver d : Readings.Driver.values()) r.register("driver." + d.id(), (Gauge<Double>) d::get);
                for (Readings.Worker w : Readings.Worker.values()) r.register("workers." + w.id(), (Gauge<Double>) () -> combined(w));
                r.register("workers.executors", (Gauge<Integer>) reports::size); // the executors that reported
                r.register("serving.latency_ms", Readings.SERVING_LATENCY);
                r.register("serving.scoring_ms", Readings.SCORING_MILLIS);
                r.register("serving.batch_size", Readings.BATCH_SIZE);
                return Map.of();
            }

            @Override
            public Object receive(Object message) {
                if (message instanceof Report rep && rep.workers().length == Readings.Worker.values().length) reports.put(rep.executor(), rep.workers());
                return null;
            }

            private double combined(Readings.Worker w) {
                int i = w.ordinal();
                double sum = 0, max = 0;
                int n = 0;
                for (double[] v : reports.values()) {
                    sum += v[i];
                    max = n == 0 ? v[i] : Math.max(max, v[i]);
                    n++;
                }
                return switch (w.combine) {
                    case SUM -> sum;
                    case MAX -> max;
                    case MEAN -> n == 0 ? 0 : sum / n;
                };
            }
        };
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new ExecutorPlugin() {
            private ScheduledExecutorService sender;
            private PluginContext ctx;

            @Override
            public void init(PluginContext ctx, Map<String, String> extraConf) {
                this.ctx = ctx;
                MetricRegistry r = ctx.metricRegistry();
                for (Readings.Worker w : Readings.Worker.values()) r.register("executor." + w.id(), (Gauge<Double>) w::get);
                sender = Executors.newSingleThreadScheduledExecutor(t -> {
                    Thread th = new Thread(t, "livetrain-metrics-report");
                    th.setDaemon(true);
                    return th;
                });
                sender.scheduleWithFixedDelay(this::report, REPORT_SECONDS, REPORT_SECONDS, TimeUnit.SECONDS);
            }

            private void report() {
                try {
                    // resident memory outside the Java heap: ND4J, oneDNN, OpenCV, metaspace, thread stacks (what
                    // spark.executor.memoryOverhead must cover); JavaCPP's own count misses most of ND4J's
                    Readings.Worker.OFFHEAP_BYTES.set(Math.max(0, Pointer.physicalBytes() - Runtime.getRuntime().totalMemory()));
                    ctx.send(new Report(ctx.executorID(), Readings.workers()));
                } catch (Exception e) { // the driver away for a moment: the next report carries the totals anyway
                    LOG.debug("metrics report not sent: {}", e.toString());
                }
            }

            @Override
            public void shutdown() {
                if (sender == null) return;
                sender.shutdownNow();
                report();
            }
        };
    }
}
