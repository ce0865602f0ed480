#!/usr/bin/env bash
# Terminal reader latency: request line -> printed answer, p50/p99, for a 28x28 PNG and for the seed's
# 1490x1480 RGBA demo image, measured side by side in one JVM with the model loaded.
#   bench/terminal-latency.sh [CHECKPOINT_DIR] [WARMUP] [N]
# Without a checkpoint directory it trains one epoch on the bundled digits first (bench/work/ckpt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ckpt="${1:-$ROOT/bench/work/ckpt}"
warmup="${2:-50}"
n="${3:-500}"
if [ ! -f "$ckpt/best.json" ]; then
  "$ROOT/submit.sh" train --epochs 1 --checkpoint-dir "$ckpt"
fi
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec java -Xmx2g -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$jar:$(cat "$ROOT/jobs/target/classpath.txt")" "$ROOT/bench/TerminalLatency.java" \
  "$ckpt" "$ROOT/data/demo/seven.png" "$warmup" "$n"
