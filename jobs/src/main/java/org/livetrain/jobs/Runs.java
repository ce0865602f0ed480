package org.livetrain.jobs;

import org.livetrain.LiveTrainException;
import org.livetrain.data.Dataset;
import org.livetrain.data.Manifest;
import org.livetrain.jobs.training.Progress;
import org.livetrain.jobs.training.TrainConfig;
import org.livetrain.jobs.training.TrainingRun;
import org.livetrain.store.CheckpointStore;
import org.livetrain.store.Pointer;
import org.livetrain.store.RunInfo;
import org.livetrain.store.RunLock;
import org.livetrain.store.RunStore;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Which run a {@code train} command trains: a new one after the directory's earlier runs, or one it resumes,
 * decided (and said in one line) once the directory's lock is held. Also the one rule that keeps a directory
 * coherent: its runs train on the same data, because its {@code best.json} serves the best of them.
 */
final class Runs {
    /** A run to resume, found before anything is written: its settings decide the data to open, its manifest which examples. */
    record Resumption(String id, TrainConfig config, Optional<Manifest> manifest) {
        /** The data as the run listed it when it started: examples added since are left out (and said), examples gone refuse the resumption. */
        Dataset frozen(Dataset now, Progress progress) {
            if (manifest.isEmpty()) return now;
            Manifest.Frozen f = manifest.get().restrict(now, id);
            if (f.added() > 0) {
                progress.line("--data %s: %d examples added since run %s started are left out: a resumed run trains on the examples it listed (its manifest.json)",
                        now.spec(), f.added(), id);
            }
            return f.data();
        }
    }

    /** The run this job trains and, when resumed, the checkpoint it continues from. */
    record Started(RunStore run, Optional<Pointer> from) {
    }

    private Runs() {
    }

    /** The run that {@code --resume [RUN]} names, with its own settings and the options allowed to change. */
    static Resumption findResumption(CheckpointStore store, TrainingJob.RunRequest request, TrainConfig given) {
        List<RunStore> runs = store.runs();
        if (runs.isEmpty()) {
            throw new LiveTrainException("--resume: " + store.location() + " has no run to resume; train without --resume to start one");
        }
        RunStore run = request.resume().isEmpty() ? runs.get(runs.size() - 1) : runs.stream().filter(r -> request.resume().equals(r.id())).findFirst()
                .orElseThrow(() -> new LiveTrainException("--resume " + request.resume() + ": " + store.location() + " has no such run (it has "
                        + String.join(", ", runs.stream().map(RunStore::name).toList()) + "; ./submit.sh runs lists them)"));
        RunInfo info = run.info().orElseThrow(() -> new LiveTrainException(run.base() + "/run.json: missing; this run cannot be resumed"));
        return new Resumption(run.id(), given.resumed(run.name(), info.settings(), request.explicit()), run.manifest());
    }

    /** Under the lock: starts over if asked, moves an earlier layout into a run, then starts or resumes the run. */
    static Started start(CheckpointStore store, RunLock lock, TrainingJob.RunRequest request, Resumption resumption, TrainConfig config,
                         TrainingRun.Inputs inputs, Progress progress) {
        Dataset data = inputs.data();
        if (request.fresh()) store.startOver(request.delete()).ifPresent(what -> progress.line("%s: --fresh: %s", store.location(), what));
        Optional<String> migrated = store.migrate();
        migrated.ifPresent(id -> progress.line("%s: moved the checkpoints of its earlier layout into run %s", store.location(), id));
        if (resumption != null) {
            String id = resumption.id() != null ? resumption.id() : migrated.orElseThrow();
            return resume(store, lock, store.run(id), config, inputs, progress);
        }
        List<RunStore> earlier = store.runs();
        for (RunStore r : earlier) {
            String theirs = r.info().map(RunInfo::data).orElse(null);
            if (theirs != null && !theirs.equals(data.spec())) {
                throw new LiveTrainException("--data " + data.spec() + ": " + store.location() + " holds runs on " + theirs
                        + " and its best.json serves the best of them; train " + data.spec() + " in another --checkpoint-dir, or start this one over with --fresh");
            }
        }
        if (request.runName() != null && earlier.stream().anyMatch(r -> r.id().equals(request.runName()))) {
            throw new LiveTrainException("--run-name " + request.runName() + ": " + store.location() + " already has a run of that name (--resume "
                    + request.runName() + " continues it)");
        }
        RunStore run = store.newRun(request.runName(), recorded(config, inputs), data.contract(), config.keep(), lock);
        inputs.listing().ifPresent(run::writeManifest);
        progress.line(earlier.isEmpty() ? "run %s, the first in %s" : "%2$s has %3$s (best: %4$s); this is run %5$d, %1$s",
                run.id(), store.location(), count(earlier.size()), bestOf(store), earlier.size() + 1);
        return new Started(run, Optional.empty());
    }

    /**
     * Whether a resumed run's data holds another number of examples than when it started (files added to a folder,
     * rows to a table): said, since the workers' shards are then dealt anew; earlier examples keep their part.
     */
    private static Optional<String> dataChangedSince(RunStore run, TrainingRun.Inputs inputs) {
        Object then = run.info().map(i -> i.settings().get("data_check")).orElse(null);
        if (!(then instanceof Map<?, ?> check) || !(check.get("checked") instanceof Number before) || inputs.check().checked() == 0) return Optional.empty();
        int now = inputs.check().checked();
        if (before.intValue() == now) return Optional.empty();
        return Optional.of(String.format(Locale.ROOT, "--data %s: %d examples now, %d when run %s started: each earlier example keeps its train, dev or test part,"
                + " but the workers' shards are dealt anew", inputs.data().spec(), now, before.intValue(), run.id()));
    }

    private static Started resume(CheckpointStore store, RunLock lock, RunStore run, TrainConfig config, TrainingRun.Inputs inputs, Progress progress) {
        Optional<Pointer> from = run.latest();
        long total = (long) inputs.stepsPerEpoch(config) * config.epochs();
        if (from.isPresent() && from.get().step() >= total) {
            throw new LiveTrainException("--resume " + run.id() + ": the run already finished its " + config.epochs() + " epoch(s) at step "
                    + from.get().step() + "; give a larger --epochs to train it further");
        }
        dataChangedSince(run, inputs).ifPresent(progress::line);
        RunStore writer = store.resumeRun(run, recorded(config, inputs), config.keep(), lock);
        if (run.manifest().isEmpty()) inputs.listing().ifPresent(writer::writeManifest); // a run from before manifests: frozen from now on
        progress.line("resuming run %s %s", run.id(), from.map(p -> String.format(Locale.ROOT, "from step %d of %d (%s, dev accuracy %.4f)",
                p.step(), total, p.path(), p.devAccuracy())).orElse("from the start: it has no checkpoint yet"));
        return new Started(writer, from);
    }

    /** What run.json keeps of a run's settings: the options that define it, how its data were split and what was left out of them. */
    private static Map<String, Object> recorded(TrainConfig config, TrainingRun.Inputs inputs) {
        Map<String, Object> settings = new LinkedHashMap<>(config.settings());
        settings.put("split", inputs.split().rule());
        if (inputs.check().checked() > 0) settings.put("data_check", inputs.check().record());
        return settings;
    }

    private static String bestOf(CheckpointStore store) {
        return store.best().map(p -> String.format(Locale.ROOT, "%s, dev accuracy %.1f%%", p.describe(), 100 * p.devAccuracy()))
                .orElse("no checkpoint yet");
    }

    private static String count(int runs) {
        return runs + " earlier run" + (runs == 1 ? "" : "s");
    }
}
