package org.livetrain.spark;

import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.livetrain.model.NativeKernels;
import org.livetrain.model.NativeMemory;

import java.util.Map;

/**
 * Switches ND4J's native kernels on as each Spark process starts, before any task builds or restores a
 * network, and starts the guard that keeps dead arrays' native memory from piling up ({@link NativeMemory}): the driver when its context starts, every executor when it starts (Spark loads plugins from the
 * application jar; {@link SparkSessions} registers this one).
 */
public final class NativeKernelsPlugin implements SparkPlugin {
    @Override
    public DriverPlugin driverPlugin() {
        return new DriverPlugin() {
            @Override
            public Map<String, String> init(SparkContext sc, PluginContext ctx) {
                NativeKernels.enable();
                NativeMemory.guard();
                return Map.of();
            }
        };
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new ExecutorPlugin() {
            @Override
            public void init(PluginContext ctx, Map<String, String> extraConf) {
                NativeKernels.enable();
                NativeMemory.guard();
            }
        };
    }
}
