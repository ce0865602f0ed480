package org.livetrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.livetrain.LiveTrainException;
import org.livetrain.io.HadoopConfs;
import org.livetrain.jobs.training.Progress;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.RunStore;
import org.livetrain.store.RunSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Function;

/** {@code livetrain runs}: the training runs of a checkpoint directory, one line each. */
@Command(name = "runs", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"List the training runs of a checkpoint directory: id, state (running, finished, failed, interrupted),",
                "trainer, data, model, steps, best dev accuracy, test accuracy and training time; * marks the run whose",
                "checkpoint best.json names, the one the prompt and the scorer answer with."})
public final class RunsCommand implements Callable<Integer> {
    @Mixin
    CheckpointDirOption checkpoints;

    @Option(names = "--json", description = "One JSON object per run instead of the table.")
    boolean json;

    @Mixin
    CommonOptions common;

    @ParentCommand
    LiveTrain top;

    /** The table's columns: heading and the cell of a run. */
    private static final List<Column> COLUMNS = List.of(
            new Column("#", r -> (r.serving() ? "* " : "") + (r.id() == null ? "-" : Integer.toString(r.number()))),
            new Column("run", RunSummary::name),
            new Column("state", RunSummary::state),
            new Column("trainer", r -> text(r.setup().trainer())),
            new Column("data", r -> text(r.setup().data())),
            new Column("model", r -> text(r.setup().model())),
            new Column("steps", r -> r.reached().steps() == null ? "-" : r.reached().steps().toString()),
            new Column("best dev", r -> r.reached().bestDevAccuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f (step %d)", r.reached().bestDevAccuracy(), r.reached().bestStep())),
            new Column("test", r -> r.reached().testAccuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f", r.reached().testAccuracy())),
            new Column("time", r -> r.reached().wallSeconds() == null ? "-" : Progress.clock(r.reached().wallSeconds())));

    private record Column(String heading, Function<RunSummary, String> cell) {
    }

    @Override
    public Integer call() throws Exception {
        common.apply();
        CheckpointStore store = checkpoints.open(HadoopConfs.from(common.conf()));
        List<RunSummary> runs = store.runs().stream().map(RunStore::summary).flatMap(Optional::stream).toList();
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            for (RunSummary r : runs) top.out.println(mapper.writeValueAsString(r));
            return 0;
        }
        if (runs.isEmpty()) {
            top.out.println("no runs in " + checkpoints.uri() + " yet (./submit.sh train --checkpoint-dir " + checkpoints.uri() + " starts one)");
            return 0;
        }
        top.out.println(runs.size() + " run" + (runs.size() == 1 ? "" : "s") + " in " + checkpoints.uri() + store.best()
                .map(p -> String.format(Locale.ROOT, "; serving %s, dev accuracy %.4f (*)", p.describe(), p.devAccuracy())).orElse(""));
        List<List<String>> rows = new ArrayList<>();
        rows.add(COLUMNS.stream().map(Column::heading).toList());
        for (RunSummary r : runs) rows.add(COLUMNS.stream().map(c -> text(c.cell().apply(r))).toList()); // a run.json written by hand may lack any field
        int[] width = new int[COLUMNS.size()];
        for (List<String> row : rows) for (int i = 0; i < width.length; i++) width[i] = Math.max(width[i], row.get(i).length());
        for (List<String> row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < width.length; i++) line.append(String.format(Locale.ROOT, "%-" + width[i] + "s  ", row.get(i)));
            top.out.println(line.toString().stripTrailing());
        }
        return 0;
    }

    private static String text(String s) {
        return s == null ? "-" : s;
    }
}
