#!/usr/bin/env bash
# The CPU an answer costs, side by side in one run: this build against the build of REV (default: the commit
# before the serving-cost changes), each serving RATE paths/s:
#   prompt   ./submit.sh terminal fed RATE paths/s on its standard input (bench/PacedFeed.java)
#   stream   the Kafka scorer (its own JVM; a broker on 127.0.0.1:9194 in another) fed RATE paths/s, then
#            BURST paths at once (throughput, p50/p99 of the burst)
#   harness  the broker and the load client alone, no scorer: what the stream rows' machine also spends
# After WARM seconds (default 60: a fresh JVM spends its first minute compiling), the serving JVM's CPU time
# (utime + stime from /proc/PID/stat) over MEASURE seconds (default 60), divided by the answers in that window.
# This build's scorer runs with `--delivery at-least-once` (as REV's wrote) and with its default, exactly once.
# Requests are 28x28 digit PNGs; with PHOTOS=1 (default) also 640x480 colour JPEG photos at PHOTO_RATE paths/s
# (default 50; one prompt thread decodes about 250 a second), this build only, and the scorer with
# `--trigger '1 second'` (fewer micro-batches). With TRAIN=1 (default) a second table:
# a training run (`train`: byteps, 2 workers, 3 epochs) alone, beside the harness alone, and beside each
# serving path of this build, serving for WARM seconds before training starts.
#   bench/serving-cost.sh [REV] [RATE]     (defaults: 080763d, 300; WARM, MEASURE, BURST, PHOTOS, TRAIN in the environment)
# Prints the tables; the figures in docs/PERFORMANCE.md (Serving cost) come from it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rev="${1:-080763d}"
rate="${2:-300}"
warm="${WARM:-60}"
measure="${MEASURE:-60}"
burst="${BURST:-10000}"
photo_rate="${PHOTO_RATE:-50}"
port=9194
work=$(mktemp -d)
before="$work/before"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "KafkaScorerBench.java soak 127.0.0.1:$port" 2>/dev/null || true
  pkill -f "PacedFeed.java .*$work/" 2>/dev/null || true
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
bench "$ROOT/bench/KafkaScorerBench.java" images "$work" > "$work/digits.txt"
bench -Dphotos=true "$ROOT/bench/KafkaScorerBench.java" images "$work" > "$work/photos.txt"

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
# seconds of a training run beside whatever serves now (the last progress line of its log ends with mm:ss)
train() {
  rm -rf "$work/ckpt-t"
  "$ROOT/submit.sh" train --checkpoint-dir "$work/ckpt-t" > "$work/train-t.log" 2>&1
  grep ' ex/s ' "$work/train-t.log" | tail -n1 | awk '{split($NF, t, ":"); print t[1] * 60 + t[2]}'
}

# prompt TREE KIND [train]: the prompt of TREE's build fed $rate paths/s of KIND (digits|photos); with
# "train", the training run's seconds once it has served $warm seconds, else the CPU per answer after $warm
prompt() {
  local secs=$((warm + measure + 5))
  [ "${3:-}" = train ] && secs="until:never"
  bench -Dskip="$warm" "$ROOT/bench/PacedFeed.java" "$rate" "$secs" "$work/$2.txt" "$work/feed.log" -- \
    "$1/submit.sh" terminal --checkpoint-dir "$work/ckpt" > "$work/feed.txt" &
  local feed=$! p
  pids+=("$feed")
  p=$(jvm_of terminal)
  sleep "$warm"
  if [ "${3:-}" = train ]; then
    train
    # the feed's JVM is a child of the background function, not $feed itself
    kill "$p" 2>/dev/null || true
    pkill -f "PacedFeed.java .*$work/" 2>/dev/null || true
    wait "$feed" 2>/dev/null || true
    return
  fi
  local cost; cost=$(window "$p")
  wait "$feed"
  echo "$cost | $(sed -n 's/.*\(p50 [0-9]* ms, p99 [0-9]* ms\).*/\1/p' "$work/feed.txt") |"
}

# stream TREE KIND [train] [STREAM OPTIONS...]: TREE's scorer (TREE "" for the harness alone) fed $rate
# paths/s of KIND; as prompt(), and without "train" a burst of $burst paths after the window
stream() {
  local tree=$1 kind=$2 mode=${3:-}
  shift 2; [ $# -gt 0 ] && shift
  rm -rf "$work/kafka" "$work/query"
  "$ROOT/submit.sh" kafka --daemon --port "$port" --data-dir "$work/kafka" >/dev/null
  local broker; broker=$(cat "$work/kafka/broker.pid")
  local scorer=""
  if [ -n "$tree" ]; then
    "$tree/submit.sh" stream --bootstrap-servers "127.0.0.1:$port" --checkpoint-dir "$work/ckpt" --query-checkpoint "$work/query" \
      --allowed-roots "$work" "$@" > "$work/stream.log" 2>&1 &
    pids+=("$!")
    scorer=$(jvm_of stream)
    sleep 15
  fi
  local count=$((rate * (warm + measure + 3))) extra=()
  [ "$mode" = train ] && count=$((rate * (warm + 600)))
  [ "$mode" != train ] && [ -n "$tree" ] && [ "$kind" = digits ] && extra=("$burst")
  local photos=false; [ "$kind" = photos ] && photos=true
  bench -Dphotos=$photos "$ROOT/bench/KafkaScorerBench.java" soak "127.0.0.1:$port" "$work" image-paths predictions "$rate" "$count" "${extra[@]}" > "$work/load.log" &
  local load=$!
  pids+=("$load")
  sleep "$warm"
  local loader; loader=$(pgrep -f -n "KafkaScorerBench.java soak")
  local out
  if [ "$mode" = train ]; then
    out=$(train)
    kill "$loader" "$load" 2>/dev/null || true
  elif [ -n "$scorer" ]; then
    out="$(window "$scorer") | $(sed -n 's/^scorer: .*latency p50 \([0-9]*\) ms, p99 \([0-9]*\) ms.*/p50 \1 ms, p99 \2 ms/p' "$work/stream.log" | tail -n 1)"
    wait "$load" || true
    out="$out | $(sed -n 's/^burst: .* = \([0-9]*\) paths\/s; latency p50 \([0-9]*\) ms, p99 \([0-9]*\) ms.*/\1 paths\/s, p50 \2 ms, p99 \3 ms/p' "$work/load.log")"
  else
    out="$(window "$broker" "$loader") | |"
    kill "$loader" "$load" 2>/dev/null || true
  fi
  wait "$load" 2>/dev/null || true
  [ -n "$scorer" ] && kill "$scorer" 2>/dev/null
  "$ROOT/submit.sh" kafka --stop --data-dir "$work/kafka" >/dev/null 2>&1 || true
  echo "$out"
}

rows=("| serving at $rate paths/s | build | CPU | CPU per answer | latency | burst of $burst |" "| --- | --- | --- | --- | --- | --- |")
rows+=("| prompt, 28x28 PNG | $rev | $(prompt "$before" digits) |")
rows+=("| prompt, 28x28 PNG | this | $(prompt "$ROOT" digits) |")
rows+=("| Kafka scorer, 28x28 PNG | $rev | $(stream "$before" digits) |")
rows+=("| Kafka scorer, 28x28 PNG, at least once | this | $(stream "$ROOT" digits "" --delivery at-least-once) |")
rows+=("| Kafka scorer, 28x28 PNG, exactly once (default) | this | $(stream "$ROOT" digits) |")
rows+=("| harness alone (broker + load client) | - | $(stream "" digits) |")
if [ "${PHOTOS:-1}" = 1 ]; then
  rows+=("| Kafka scorer, 28x28 PNG, \`--trigger '1 second'\` | this | $(stream "$ROOT" digits "" --trigger '1 second') |")
  rows+=("| prompt, 640x480 JPEG at $photo_rate paths/s | this | $(rate=$photo_rate prompt "$ROOT" photos) |")
  rows+=("| Kafka scorer, 640x480 JPEG at $photo_rate paths/s | this | $(rate=$photo_rate stream "$ROOT" photos) |")
fi
printf '%s\n' "${rows[@]}"
[ "${TRAIN:-1}" = 1 ] || exit 0

alone=$(train)
ratio() { awk -v t="$1" -v a="$2" 'BEGIN { printf "%d s | %.2fx", t, t / a }'; }
harness=$(stream "" digits train)
echo
echo "| training (byteps, 2 workers, 3 epochs) beside | seconds | vs alone | vs beside the harness |"
echo "| --- | --- | --- | --- |"
echo "| nothing | $alone s | 1.00x | |"
echo "| the harness alone (broker + load client at $rate paths/s) | $(ratio "$harness" "$alone") | 1.00x |"
t=$(stream "$ROOT" digits train); echo "| Kafka scorer (exactly once) at $rate paths/s (and the harness) | $(ratio "$t" "$alone") | $(awk -v t="$t" -v h="$harness" 'BEGIN { printf "%.2fx", t / h }') |"
t=$(prompt "$ROOT" digits train); echo "| prompt at $rate paths/s | $(ratio "$t" "$alone") | |"
