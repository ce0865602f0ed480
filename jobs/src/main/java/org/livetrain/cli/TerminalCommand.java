package org.livetrain.cli;

import org.livetrain.io.HadoopConfs;
import org.livetrain.terminal.TerminalSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code livetrain terminal}: the live-inference prompt on its own, against any checkpoint directory. */
@Command(name = "terminal", mixinStandardHelpOptions = true, sortOptions = false, showDefaultValues = true,
        description = {"Answer image paths typed at a prompt (or piped in) with the best model so far of a checkpoint directory,",
                "also while a training run elsewhere is still writing to it."})
public final class TerminalCommand implements Callable<Integer> {
    @Mixin
    CheckpointDirOption checkpoints;

    @Mixin
    ReaderOptions reader;

    @Mixin
    CommonOptions common;

    @picocli.CommandLine.ParentCommand
    LiveTrain top;

    @Override
    public Integer call() throws Exception {
        common.apply();
        String dir = checkpoints.uri();
        try (TerminalSession s = new TerminalSession(checkpoints.location(HadoopConfs.from(common.conf())), reader.settings(ReaderOptions.interactive()),
                () -> "no checkpoint has been published in " + dir + " yet; one appears after the first evaluation of a training run"
                        + " writing there (./submit.sh train --checkpoint-dir " + dir + ")",
                reader.prompt(top))) {
            return s.run();
        }
    }
}
