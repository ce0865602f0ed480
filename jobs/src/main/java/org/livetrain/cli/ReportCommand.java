package org.livetrain.cli;

import org.livetrain.io.HadoopConfs;
import org.livetrain.report.Report;
import org.livetrain.store.CheckpointStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code livetrain report}: charts and an HTML page of a training run, from its history. */
@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Write PNG charts and one HTML page of a training run from its history.jsonl: dev accuracy against step and",
                "wall time with the moments the best model changed, losses, throughput and the push/pull share of a BytePS step.",
                "Works while the run is still training, and on any Hadoop URI."})
public final class ReportCommand implements Callable<Integer> {
    @Option(names = "--checkpoint-dir", paramLabel = "URI", description = "The checkpoint directory of the run: a local path or any Hadoop URI.")
    String checkpointDir;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "report", description = "Local directory for the charts and index.html.")
    Path out;

    @Mixin
    CommonOptions common;

    @picocli.CommandLine.ParentCommand
    LiveTrain top;

    @Override
    public Integer call() {
        common.apply();
        CheckpointStore store = CheckpointStore.open(checkpointDir, HadoopConfs.from(common.conf()));
        List<Path> files = Report.write(checkpointDir, store.history(), store.servingStats(), out);
        top.out.printf("report of %s: %d chart(s) and %s%n", checkpointDir, files.size() - 1, files.get(files.size() - 1).toAbsolutePath());
        return 0;
    }
}
