package org.livetrain.jobs.byteps;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a worker task sits among the stage's executors. With local reduction, the worker tasks of one
 * executor JVM form a local group: the lowest-numbered of them (rank 0) is the only one that talks to the
 * servers, as worker {@code group} of {@code groups}. Without it, every worker is a group of one.
 * {@code local}: the worker tasks in this task's executor JVM, with or without local reduction.
 */
record Placement(int group, int groups, int rank, int members, int local) {
    /**
     * The placement of worker {@code task}, from the executor id every task of the stage said
     * ({@code executors[t]}); only the first {@code workers} tasks are workers (the rest are dedicated servers).
     */
    static Placement of(String[] executors, int workers, int task, boolean reduceLocally) {
        Map<String, List<Integer>> byExecutor = new LinkedHashMap<>();
        for (int t = 0; t < workers; t++) byExecutor.computeIfAbsent(executors[t], e -> new ArrayList<>()).add(t);
        int local = byExecutor.getOrDefault(executors[task], List.of()).size();
        if (!reduceLocally) return new Placement(task, workers, 0, 1, local);
        List<List<Integer>> groups = new ArrayList<>(byExecutor.values());
        for (int g = 0; g < groups.size(); g++) {
            int rank = groups.get(g).indexOf(task);
            if (rank >= 0) return new Placement(g, groups.size(), rank, groups.get(g).size(), local);
        }
        return new Placement(-1, groups.size(), -1, 0, local); // a dedicated server task: only the number of groups matters
    }

    boolean leader() {
        return rank == 0;
    }
}
