package org.livetrain.jobs;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.livetrain.cli.LiveTrain;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `--help` of the program and of every subcommand runs, exits 0 and shows the usage. */
@Tag("fast")
class HelpTest {
    @Test
    void everyCommandHasHelp() {
        Cli top = Cli.run("--help");
        assertEquals(0, top.exitCode(), top.err());
        var subcommands = new CommandLine(new LiveTrain()).getSubcommands().keySet();
        assertTrue(subcommands.containsAll(List.of("train", "terminal", "stream", "push", "kafka", "report")), subcommands.toString());
        for (String name : subcommands) {
            if (name.equals("help")) continue;
            assertTrue(top.out().contains(name), "the top-level help lists " + name);
            Cli r = Cli.run(name, "--help");
            assertEquals(0, r.exitCode(), name + ": " + r.err());
            assertTrue(r.out().startsWith("Usage: livetrain " + name), name + ": " + r.out());
        }
    }

    /** Every option of every command is documented in the README or docs/ (the documentation and --help do not drift apart). */
    @Test
    void everyOptionIsDocumented() throws Exception {
        Path repo = Path.of(System.getProperty("livetrain.repo", ".."));
        StringBuilder docs = new StringBuilder(Files.readString(repo.resolve("README.md")));
        try (var files = Files.list(repo.resolve("docs"))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".md")).sorted().toList()) docs.append(Files.readString(f));
        }
        String readme = docs.toString();
        List<String> missing = new ArrayList<>();
        new CommandLine(new LiveTrain()).getSubcommands().forEach((name, cmd) -> {
            if (name.equals("help")) return;
            for (var o : cmd.getCommandSpec().options()) {
                String opt = o.longestName();
                if (opt.equals("--help") || opt.equals("--version")) continue;
                if (!readme.contains("`" + opt) && !readme.contains(" " + opt + " ") && !readme.contains("(" + opt) && !readme.contains("[" + opt)) missing.add(name + " " + opt);
            }
        });
        assertTrue(missing.isEmpty(), "options missing from README.md and docs/: " + missing);
    }
}
