#!/usr/bin/env bash
# What updating LiveTrain's metrics costs a training step (target: under 1%), in one run: a real training run's
# step time, then the workers' per-step metric updates timed in a loop (bench/MetricsCost.java).
#   bench/metrics-cost.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
work="$ROOT/bench/work"
mkdir -p "$work"
trap 'rm -rf "$work"/metrics-cost*' EXIT
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
export OMP_NUM_THREADS=1 SPARK_LOCAL_IP=127.0.0.1
# shellcheck disable=SC2086
java -Xmx4g $JAVA17_FLAGS -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$cp" "$ROOT/bench/MetricsCost.java" "$work" \
  2> >(grep -v ' WARN ' >&2)
