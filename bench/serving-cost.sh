#!/usr/bin/env bash
# The CPU an answer costs, side by side in one run: this build against the build of REV (default: the commit
# before the serving-cost changes), each serving 28x28 PNG paths at RATE paths/s:
#   prompt   ./submit.sh terminal fed RATE paths/s on its standard input (bench/PacedFeed.java)
#   stream   the Kafka scorer (its own JVM; a broker on 127.0.0.1:9194 in another) fed RATE paths/s
#   harness  the broker and the load client alone, no scorer: what the stream rows' machine also spends
# After WARM seconds (default 60: a fresh JVM spends its first minute compiling), the serving JVM's CPU time
# (utime + stime from /proc/PID/stat) over MEASURE seconds (default 60), divided by the answers in that window.
# Prints one table; the figures in docs/PERFORMANCE.md (Serving cost) come from it.
#   bench/serving-cost.sh [REV] [RATE]        (defaults: 080763d, 300; WARM=.. MEASURE=.. in the environment)
# Not yet here (issue 29): 640x480 JPEG photos, a burst of 10,000, training beside each.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rev="${1:-080763d}"
rate="${2:-300}"
warm="${WARM:-60}"
measure="${MEASURE:-60}"
port=9194
work=$(mktemp -d)
before="$work/before"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$ROOT/submit.sh" kafka --stop --data-dir "$work/kafka" >/dev/null 2>&1 || true
  git -C "$ROOT" worktree remove --force "$before" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/submit.sh" --help >/dev/null   # builds if needed
git -C "$ROOT" worktree add -f -q "$before" "$rev"
"$before/submit.sh" --help >/dev/null
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
bench() {
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 java -Xmx1g $JAVA17_FLAGS -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$cp" "$@" 2> >(grep -v ' WARN ' >&2)
}
"$ROOT/submit.sh" train --epochs 1 --checkpoint-dir "$work/ckpt" > "$work/train.log"
bench "$ROOT/bench/KafkaScorerBench.java" images "$work" > "$work/paths.txt"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ms per answer of the processes $@ over the window, at $rate answers a second
window() {
  local t0=0 t1=0 p
  for p in "$@"; do t0=$((t0 + $(ticks "$p"))); done
  sleep "$measure"
  for p in "$@"; do t1=$((t1 + $(ticks "$p"))); done
  awk -v a="$t0" -v b="$t1" -v s="$measure" -v r="$rate" 'BEGIN { printf "%.2f cores | %.2f ms", (b - a) / 100 / s, (b - a) * 10 / (s * r) }'
}
jvm_of() { for _ in $(seq 150); do p=$(pgrep -f -n "org.livetrain.cli.LiveTrain $1") && { echo "$p"; return; }; sleep 0.2; done; }

prompt() { # $1: the tree whose submit.sh serves
  bench -Dskip="$warm" "$ROOT/bench/PacedFeed.java" "$rate" $((warm + measure + 5)) "$work/paths.txt" "$work/feed.log" -- \
    "$1/submit.sh" terminal --checkpoint-dir "$work/ckpt" > "$work/feed.txt" &
  local feed=$! p
  p=$(jvm_of terminal)
  sleep "$warm"
  local cost; cost=$(window "$p")
  wait "$feed"
  echo "$cost | $(sed -n 's/.*\(p50 [0-9]* ms, p99 [0-9]* ms\).*/\1/p' "$work/feed.txt")"
}

stream() { # $1: the tree whose submit.sh serves, or "" for the harness alone
  rm -rf "$work/kafka" "$work/query"
  "$ROOT/submit.sh" kafka --daemon --port "$port" --data-dir "$work/kafka" >/dev/null
  local broker; broker=$(cat "$work/kafka/broker.pid")
  local scorer=""
  if [ -n "$1" ]; then
    "$1/submit.sh" stream --bootstrap-servers "127.0.0.1:$port" --checkpoint-dir "$work/ckpt" --query-checkpoint "$work/query" \
      --allowed-roots "$work" > "$work/stream.log" 2>&1 &
    pids+=("$!")
    scorer=$(jvm_of stream)
    sleep 15
  fi
  bench "$ROOT/bench/KafkaScorerBench.java" soak "127.0.0.1:$port" "$work" image-paths predictions "$rate" $((rate * (warm + measure + 10))) > "$work/load.log" &
  local load=$!
  sleep "$warm"
  local loader; loader=$(pgrep -f -n "KafkaScorerBench.java soak")
  local cost
  if [ -n "$scorer" ]; then cost=$(window "$scorer"); else cost=$(window "$broker" "$loader"); fi
  kill "$loader" "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true
  [ -n "$scorer" ] && kill "$scorer" 2>/dev/null
  "$ROOT/submit.sh" kafka --stop --data-dir "$work/kafka" >/dev/null 2>&1 || true
  local lat=""
  [ -n "$scorer" ] && lat=$(sed -n 's/^scorer: .*latency p50 \([0-9]*\) ms, p99 \([0-9]*\) ms.*/p50 \1 ms, p99 \2 ms/p' "$work/stream.log" | tail -n 1)
  echo "$cost | $lat"
}

rows=("| serving, 28x28 PNG at $rate paths/s | build | CPU | CPU per answer | latency |" "| --- | --- | --- | --- | --- |")
rows+=("| prompt | $rev | $(prompt "$before") |")
rows+=("| prompt | this | $(prompt "$ROOT") |")
rows+=("| Kafka scorer | $rev | $(stream "$before") |")
rows+=("| Kafka scorer | this | $(stream "$ROOT") |")
rows+=("| harness alone (broker + load client) | - | $(stream "") |")
printf '%s\n' "${rows[@]}"
