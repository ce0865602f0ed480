#!/usr/bin/env bash
# What shadow promotion costs the Kafka scorer: the same run with --promotion immediate and with a candidate
# shadowed the whole time (every request scored by both models), side by side, ROUNDS times each, alternating
# (default 2): CPU per answer of the benchmark's JVM (scorer, broker and load together: compare, do not read
# alone), push-to-answer latency at RATE paths/s, and the throughput of a burst of N.
#   bench/shadow-cost.sh [N] [RATE] [SECONDS]     (defaults 5000, 300, 60)
# Trains one epoch first for the model to serve (bench/work/ckpt) when there is none; the candidate goes into a copy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
n="${1:-5000}"
rate="${2:-300}"
secs="${3:-60}"
work="$ROOT/bench/work"
ckpt="$work/ckpt"
mkdir -p "$work"
trap 'rm -rf "$work"/ckpt-shadow*' EXIT
if [ ! -f "$ckpt/best.json" ]; then
  "$ROOT/submit.sh" train --epochs 1 --checkpoint-dir "$ckpt"
fi
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
export OMP_NUM_THREADS=1 SPARK_LOCAL_IP=127.0.0.1
for round in $(seq "${ROUNDS:-2}"); do
  for promotion in immediate shadow; do
    echo "== --promotion $promotion, round $round"
    # shellcheck disable=SC2086
    java -Xmx4g $JAVA17_FLAGS -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
      -Dpromotion="$promotion" -cp "$cp" "$ROOT/bench/KafkaScorerBench.java" burst "$ckpt" "$work" "0 seconds" "$n" "$rate" "$secs" \
      2> >(grep -v ' WARN ' >&2)
  done
done
