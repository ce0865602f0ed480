package org.livetrain.io;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * The results of {@code fetch(item)} for items in order, fetched on a few threads at most {@code window} items
 * ahead of the reader: a remote store answers each open in milliseconds, so reading one file after another
 * would leave the reader waiting. {@code fetch} reports failures in its result rather than throwing. Threads
 * end by themselves a few seconds after the last fetch, also when the reader stops early.
 */
public final class ReadAhead<T> implements Iterator<T> {
    private final int[] items;
    private final IntFunction<T> fetch;
    private final int window;
    private final ThreadPoolExecutor threads;
    private final ArrayDeque<Future<T>> pending = new ArrayDeque<>();
    private int submitted;

    public ReadAhead(int[] items, IntFunction<T> fetch, int threads, int window) {
        this.items = items;
        this.fetch = fetch;
        this.window = Math.max(1, window);
        this.threads = new ThreadPoolExecutor(threads, threads, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "livetrain-read-ahead");
            t.setDaemon(true);
            return t;
        });
        this.threads.allowCoreThreadTimeOut(true);
    }

    private void fill() {
        while (pending.size() < window && submitted < items.length) {
            int item = items[submitted++];
            pending.add(threads.submit(() -> fetch.apply(item)));
        }
    }

    @Override
    public boolean hasNext() {
        fill();
        return !pending.isEmpty();
    }

    @Override
    public T next() {
        if (!hasNext()) throw new NoSuchElementException();
        try {
            T result = pending.poll().get();
            fill();
            if (pending.isEmpty()) threads.shutdown();
            return result;
        } catch (ExecutionException e) {
            threads.shutdownNow();
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            threads.shutdownNow();
            throw new IllegalStateException("interrupted while reading ahead", e);
        }
    }
}
