package org.livetrain.cli;

import org.livetrain.LiveTrainException;
import org.livetrain.model.NativeKernels;
import org.livetrain.model.NativeMemory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * The {@code livetrain} command line ({@code ./submit.sh CMD ...}). Defaults come from
 * {@code conf/livetrain.properties} (bundled in the jar; {@code LIVETRAIN_CONF} or {@code -Dlivetrain.conf}
 * names another file); flags override them.
 */
@Command(name = "livetrain",
        mixinStandardHelpOptions = true,
        versionProvider = LiveTrain.Version.class,
        description = {"Train an image classifier on Spark with BytePS-style workers, and serve live predictions from the best model so far."},
        subcommands = {TrainCommand.class, ModelCommand.class, RunsCommand.class, TerminalCommand.class, StreamCommand.class, ScoreCommand.class, PushCommand.class, KafkaCommand.class, ReportCommand.class, CommandLine.HelpCommand.class},
        synopsisSubcommandLabel = "COMMAND")
public final class LiveTrain implements Runnable {
    public static final String DEFAULTS_RESOURCE = "livetrain/livetrain.properties";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** The streams of this invocation (the process's own, or a test's). */
    InputStream in = System.in;
    PrintStream out = System.out;
    PrintStream err = System.err;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command (train, model, runs, terminal, stream, push, kafka, report)");
    }

    public static void main(String[] args) {
        NativeKernels.enable();
        NativeMemory.guard();
        System.exit(execute(args, System.out, System.err));
    }

    /**
     * Runs a command line; returns the exit code: 0 done, 2 an error no retry can fix (bad input, storage
     * that refuses, corrupt data), 1 any other failure. Either way one line on standard error, and the stack
     * trace only with {@code --verbose}.
     */
    public static int execute(String[] args, PrintStream out, PrintStream err) {
        return execute(args, System.in, out, err);
    }

    public static int execute(String[] args, InputStream in, PrintStream out, PrintStream err) {
        LiveTrain top = new LiveTrain();
        top.in = in;
        top.out = out;
        top.err = err;
        CommandLine cl = new CommandLine(top);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setDefaultValueProvider(new CommandLine.PropertiesDefaultProvider(defaults()));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            err.println(c.getCommandSpec().qualifiedName() + ": " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            boolean user = LiveTrainException.in(ex).isPresent();
            err.println(c.getCommandSpec().qualifiedName() + ": " + (user ? "" : "failed: ") + oneLine(ex)
                    + (user || verbose(parsed) ? "" : " (--verbose shows where)"));
            if (verbose(parsed)) ex.printStackTrace(err);
            return user ? 2 : 1;
        });
        return cl.execute(args);
    }

    /** What went wrong, in one line: a user error's message, or the exception and the first line of its message. */
    static String oneLine(Throwable t) {
        String m = LiveTrainException.in(t).map(Throwable::getMessage).orElseGet(() -> t.getClass().getSimpleName() + ": " + t.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    private static boolean verbose(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) return true;
        }
        return false;
    }

    /** The bundled defaults, overlaid by the file that LIVETRAIN_CONF or -Dlivetrain.conf names. */
    public static Properties defaults() {
        Properties p = new Properties();
        try (InputStream in = LiveTrain.class.getClassLoader().getResourceAsStream(DEFAULTS_RESOURCE)) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            throw new IllegalStateException("bundled defaults unreadable", e);
        }
        String file = System.getProperty("livetrain.conf", System.getenv("LIVETRAIN_CONF"));
        if (file != null && !file.isBlank()) {
            Path f = Path.of(file);
            if (!Files.isReadable(f)) throw new LiveTrainException("defaults file " + f + ": not found or not readable");
            try (InputStream in = Files.newInputStream(f)) {
                p.load(in);
            } catch (IOException e) {
                throw new LiveTrainException("defaults file " + f + ": unreadable (" + e.getMessage() + ")");
            }
        }
        return p;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LiveTrain.class.getPackage().getImplementationVersion();
            return new String[]{"LiveTrain " + (v == null ? "(development build)" : v)};
        }
    }
}
