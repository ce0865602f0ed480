#!/usr/bin/env bash
# Sharing the cores: a training run (./submit.sh train, defaults: byteps, 2 workers, 3 epochs) alone, then
# beside each way of serving, measured side by side in one run:
#   stream    the Kafka scorer (its own JVM, broker on 127.0.0.1:9193) answering RATE paths/s
#   terminal  the prompt on its own (its own JVM) fed RATE paths/s on its standard input
#   live      train --live, a scripted client typing a path every LIVE_MS milliseconds at its prompt
# Serving answers from a model trained for one epoch beforehand (the live run answers from its own). The
# scorer and the prompt are fed for WARM seconds (default 60) before training starts: a fresh JVM spends
# its first minute compiling (the JIT took 0.17 of a core of the scorer's 0.58 after 50 s), which a
# long-running server has behind it.
# Prints training time and its ratio to alone, the answers' p50/p99, and the serving JVM's CPU use.
#   bench/sharing.sh [RATE] [LIVE_MS] [-- STREAM_OPTIONS...]   (defaults 300, 50; options for the scorer,
#                                                               e.g. --serving-cores 2 or --trigger '0 seconds')
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rate="${1:-300}"
live_ms="${2:-50}"
shift $(( $# >= 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
serving=("$@")
work="$ROOT/bench/work/sharing"
port=9193
warm="${WARM:-60}"
mkdir -p "$work"
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
bench() {
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 java -Xmx1g $JAVA17_FLAGS -Dorg.eclipse.deeplearning4j.helpers.disable=false \
    -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$cp" "$@" 2> >(grep -v ' WARN ' >&2)
}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$ROOT/submit.sh" kafka --stop --data-dir "$work/kafka" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$work/ckpt-serve/best.json" ] || "$ROOT/submit.sh" train --epochs 1 --checkpoint-dir "$work/ckpt-serve" > "$work/serve-model.log"
bench "$ROOT/bench/KafkaScorerBench.java" images "$work" > "$work/paths.txt"

# seconds of the last progress line of a training log (it ends with the elapsed mm:ss)
train_secs() { grep ' ex/s ' "$1" | tail -n1 | awk '{split($NF, t, ":"); print t[1] * 60 + t[2]}'; }
train() { rm -rf "$work/ckpt-$1"; "$ROOT/submit.sh" train --checkpoint-dir "$work/ckpt-$1" > "$work/train-$1.log" 2>&1; train_secs "$work/train-$1.log"; }
cpu_secs() { awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo "?"; }
# the JVM started by submit.sh for a command line containing $1
jvm_of() { for _ in $(seq 100); do p=$(pgrep -f -n "org.livetrain.cli.LiveTrain $1") && { echo "$p"; return; }; sleep 0.2; done; }

alone=$(train alone)
echo "training alone: ${alone} s"
row() { awk -v n="$1" -v s="$2" -v a="$alone" -v l="$3" -v c="$4" 'BEGIN { printf "| %s | %d s | %.2fx | %s | %s |\n", n, s, s / a, l, c }'; }
rows=("| serving beside training | training | vs alone | answers | serving JVM CPU while training |" "| --- | --- | --- | --- | --- |"
      "$(row "nothing" "$alone" "" "")")

# the Kafka scorer: warm, then training; the load outlasts it. Latency: the scorer's own 10-second lines
# printed while training ran (producer's send time to answer), the worst p50 and the worst p99 among them
rm -rf "$work/kafka" "$work/query"   # answers of an earlier run would match this run's request ids
"$ROOT/submit.sh" kafka --daemon --port "$port" --data-dir "$work/kafka" >/dev/null
"$ROOT/submit.sh" stream --bootstrap-servers "127.0.0.1:$port" --checkpoint-dir "$work/ckpt-serve" --query-checkpoint "$work/query" \
  --allowed-roots "$work" "${serving[@]}" > "$work/stream.log" 2>&1 &
pids+=("$!")
stream=$(jvm_of stream)
sleep 15
bench "$ROOT/bench/KafkaScorerBench.java" soak "127.0.0.1:$port" "$work" image-paths predictions "$rate" $((rate * (alone * 2 + warm))) > "$work/load.log" &
load=$!
sleep "$warm"
l0=$(wc -l < "$work/stream.log"); c0=$(cpu_secs "$stream"); t=$(train stream); c1=$(cpu_secs "$stream"); sleep 10
latency=$(tail -n +$((l0 + 1)) "$work/stream.log" | sed -n 's/^scorer: .*latency p50 \([0-9]*\) ms, p99 \([0-9]*\) ms.*/\1 \2/p' | head -n $((t / 10 + 1)) \
  | awk '$1 > a { a = $1 } $2 > b { b = $2 } END { printf "p50 %d ms, p99 %d ms", a, b }')
wait "$load"
rows+=("$(row "\`stream\` at $rate paths/s" "$t" "$latency" \
  "$(awk -v a="$c0" -v b="$c1" -v s="$t" 'BEGIN { printf "%.2f cores", (b - a) / s }')")")
kill "$stream" 2>/dev/null || true

# the prompt on its own, fed a steady stream of paths
bench -Dskip="$warm" "$ROOT/bench/PacedFeed.java" "$rate" $((alone * 2 + warm)) "$work/paths.txt" "$work/terminal.log" -- \
  "$ROOT/submit.sh" terminal --checkpoint-dir "$work/ckpt-serve" > "$work/feed-terminal.txt" &
feed=$!
term=$(jvm_of terminal)
sleep "$warm"
c0=$(cpu_secs "$term"); t=$(train terminal); c1=$(cpu_secs "$term")
wait "$feed"
rows+=("$(row "\`terminal\` at $rate paths/s" "$t" "$(sed -n 's/.*\(p50 [0-9]* ms, p99 [0-9]* ms\).*/\1/p' "$work/feed-terminal.txt")" \
  "$(awk -v a="$c0" -v b="$c1" -v s="$t" 'BEGIN { printf "%.2f cores", (b - a) / s }')")")

# train --live with a path typed every LIVE_MS ms (answers are errors until the first checkpoint)
rm -rf "$work/ckpt-live"
bench "$ROOT/bench/PacedFeed.java" "$(awk -v m="$live_ms" 'BEGIN { print 1000 / m }')" "until:training finished" "$work/paths.txt" "$work/train-live.log" -- \
  "$ROOT/submit.sh" train --live --checkpoint-dir "$work/ckpt-live" > "$work/feed-live.txt"
rows+=("$(row "\`train --live\`, a path every $live_ms ms" "$(train_secs "$work/train-live.log")" "$(sed -n 's/.*\(p50 [0-9]* ms, p99 [0-9]* ms\).*/\1/p' "$work/feed-live.txt")" "(one JVM)")")
printf '%s\n' "${rows[@]}"
