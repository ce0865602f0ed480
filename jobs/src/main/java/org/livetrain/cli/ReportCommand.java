package org.livetrain.cli;

import org.livetrain.LiveTrainException;
import org.livetrain.io.HadoopConfs;
import org.livetrain.report.Report;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code livetrain report}: charts and an HTML page of the training runs of a checkpoint directory. */
@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Write PNG charts and one HTML page of the training runs of a checkpoint directory, every run on the same charts:",
                "dev accuracy against step and training time with the moments the served best model changed, losses, throughput,",
                "the push/pull share of a BytePS step, and a table of the runs. Works while a run is still training, on any Hadoop URI."})
public final class ReportCommand implements Callable<Integer> {
    @Mixin
    CheckpointDirOption checkpoints;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "report", description = "Local directory for the charts and index.html.")
    Path out;

    @Option(names = "--runs", paramLabel = "ID,ID", split = ",", description = "Only these runs (ids as ./submit.sh runs lists them); default: all.")
    List<String> only;

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain top;

    @Override
    public Integer call() {
        common.apply();
        CheckpointStore store = checkpoints.open(HadoopConfs.from(common.conf()));
        List<RunStore> runs = store.runs();
        if (only != null) {
            for (String id : only) {
                if (runs.stream().noneMatch(r -> id.equals(r.id()))) {
                    throw new LiveTrainException("--runs " + id + ": " + checkpoints.uri() + " has no such run (it has "
                            + String.join(", ", runs.stream().map(RunStore::name).toList()) + ")");
                }
            }
            runs = runs.stream().filter(r -> only.contains(r.id())).toList();
        }
        List<Report.Run> drawn = new ArrayList<>();
        for (RunStore r : runs) r.summary().ifPresent(s -> drawn.add(Report.Run.of(s, r.history())));
        List<Path> files = Report.write(checkpoints.uri(), drawn, store.servingStats(), out);
        top.out.printf("report of %s (%d run(s)): %d chart(s) and %s%n", checkpoints.uri(), drawn.size(), files.size() - 1,
                files.get(files.size() - 1).toAbsolutePath());
        return 0;
    }
}
