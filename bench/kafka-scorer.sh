#!/usr/bin/env bash
# Kafka scorer benchmark, one run: throughput and push-to-answer latency of 10,000 paths pushed at once
# and of a steady stream, with micro-batches delivering exactly once and at least once (side by side,
# ROUNDS times each, alternating; default 2) and with --trigger continuous; then (TRAIN=1, the default) the
# slowdown of a training run that shares the machine with a scorer answering a steady stream.
#   bench/kafka-scorer.sh [N] [RATE] [SECONDS]     (defaults 10000, 300, 20)
# Trains one epoch first for the model to serve (bench/work/ckpt) when there is none.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
n="${1:-10000}"
rate="${2:-300}"
secs="${3:-20}"
work="$ROOT/bench/work"
ckpt="$work/ckpt"
mkdir -p "$work"
if [ ! -f "$ckpt/best.json" ]; then
  "$ROOT/submit.sh" train --epochs 1 --checkpoint-dir "$ckpt"
fi
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
export OMP_NUM_THREADS=1 SPARK_LOCAL_IP=127.0.0.1
bench() { # [-Dname=value...] MODE ARGS...
  local props=()
  while [[ "${1:-}" == -D* ]]; do props+=("$1"); shift; done
  # shellcheck disable=SC2086
  java -Xmx4g $JAVA17_FLAGS -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
    "${props[@]}" -cp "$cp" "$ROOT/bench/KafkaScorerBench.java" "$@" 2> >(grep -v ' WARN ' >&2)
}
for round in $(seq "${ROUNDS:-2}"); do
  for delivery in at-least-once exactly-once; do
    echo "== default trigger (micro-batches as fast as they finish), --delivery $delivery, round $round"
    bench -Ddelivery="$delivery" burst "$ckpt" "$work" "0 seconds" "$n" "$rate" "$secs"
  done
done
echo "== --trigger continuous"
bench burst "$ckpt" "$work" continuous "$n" "$rate" "$secs"

[ "${TRAIN:-1}" = 1 ] || exit 0
# the last progress line of a training run ends with its elapsed time (mm:ss)
train_secs() {
  rm -rf "$1"
  "$ROOT/submit.sh" train --checkpoint-dir "$1" | tee "$1.log" >&2
  grep ' ex/s ' "$1.log" | tail -n1 | awk '{split($NF, t, ":"); print t[1] * 60 + t[2]}'
}
echo "== a training run alone, then beside a scorer answering $rate paths/s"
alone=$(train_secs "$work/train-alone")
# the stream starts 25 s before training (warm scorer) and outlasts it
bench serve "$ckpt" "$work" "0 seconds" "$rate" $((alone * 2 + 25)) > "$work/serve.log" &
serve=$!
sleep 25
shared=$(train_secs "$work/train-shared")
wait "$serve"
echo "scorer during the shared run: $(grep '^serve' "$work/serve.log")"
echo "training alone: ${alone} s; beside the scorer: ${shared} s; slowdown $(awk -v a="$alone" -v b="$shared" 'BEGIN { printf "%.2fx", b / a }')"
