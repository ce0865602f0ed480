#!/usr/bin/env bash
# Trainer comparison, side by side in one JVM: single-JVM DL4J fit, --trainer averaging, --trainer byteps.
#   bench/trainers.sh [EPOCHS]      (default 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" SPARK_LOCAL_IP=127.0.0.1
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
# shellcheck disable=SC2086
exec java -Xmx6g $JAVA17_FLAGS -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$jar:$(cat "$ROOT/jobs/target/classpath.txt")" "$ROOT/bench/TrainerComparison.java" "${1:-5}"
