package org.livetrain.jobs;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.Property;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** What one logger says while a test runs, at a level of the test's choosing (restored afterwards). */
final class LogCapture extends AbstractAppender implements AutoCloseable {
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Logger logger;
    private final Level before;

    private LogCapture(String name, Level level) {
        super("capture-" + name, null, null, true, Property.EMPTY_ARRAY);
        this.logger = (Logger) LogManager.getLogger(name);
        this.before = logger.getLevel();
        start();
        logger.addAppender(this);
        Configurator.setLevel(name, level);
    }

    static LogCapture of(String logger, Level level) {
        return new LogCapture(logger, level);
    }

    @Override
    public void append(LogEvent event) {
        String m = event.getMessage().getFormattedMessage();
        lines.add(event.getThrown() == null ? m : m + " " + event.getThrown());
    }

    List<String> lines() {
        return List.copyOf(lines);
    }

    @Override
    public void close() {
        logger.removeAppender(this);
        Configurator.setLevel(logger.getName(), before);
        stop();
    }
}
