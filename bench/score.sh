#!/usr/bin/env bash
# score side by side in one run (bench/ScoreBench.java): the 10,000 bundled digits as PNG files scored by a
# plain loop in one JVM (read, decode, prepare, forward in batches of 64 on 2 threads), and by
# `./submit.sh score` over the folder on local disk and on HDFS (an in-process NameNode and DataNode on
# 127.0.0.1). Spark's start-up is outside the rate score prints; the command's whole time is shown too.
#   bench/score.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
# the in-process HDFS comes from the tests' class path (hadoop-client-minicluster)
(cd "$ROOT" && mvn -o -q -B dependency:build-classpath -pl jobs -Dmdep.includeScope=test -Dmdep.outputFile="$work/cp.txt" >/dev/null)
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 SPARK_LOCAL_IP=127.0.0.1 MALLOC_ARENA_MAX=2 java -Xmx6g $JAVA17_FLAGS \
  -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$jar:$(cat "$work/cp.txt")" "$ROOT/bench/ScoreBench.java" "$work"
