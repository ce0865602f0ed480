#!/usr/bin/env bash
# Soak: training and the Kafka scorer share the machine while COUNT requests arrive at RATE paths/s
# (defaults 50,000 at 85/s: about 10 minutes). Every request must be answered; the heap in use and the
# resident memory (heap + ND4J/JavaCPP native memory) of both JVMs are sampled every 30 s, and the
# growth of each JVM's resident memory over the last 30 minutes (or the whole load, if shorter) is printed.
#   bench/soak.sh [COUNT] [RATE] [EPOCHS]     (defaults 50000, 85, 120)
#   bench/soak.sh long                        (the long soak: 240,000 paths at 85/s, about 47 minutes)
# Uses its own broker on 127.0.0.1:9192 and bench/work/soak; stops everything it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "long" ]; then set -- 240000 85 700; fi
count="${1:-50000}"
rate="${2:-85}"
epochs="${3:-120}"
work="$ROOT/bench/work/soak"
port=9192
rm -rf "$work"
mkdir -p "$work"
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; "$ROOT/submit.sh" kafka --stop --data-dir "$work/kafka" >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$ROOT/submit.sh" kafka --daemon --port "$port" --data-dir "$work/kafka" >/dev/null
"$ROOT/submit.sh" train --epochs "$epochs" --checkpoint-dir "$work/ckpt" > "$work/train.log" 2>&1 &
train=$!; pids+=("$train")
until [ -f "$work/ckpt/best.json" ]; do sleep 1; done
( cd "$work" && exec "$ROOT/submit.sh" stream --bootstrap-servers "127.0.0.1:$port" --checkpoint-dir "$work/ckpt" \
    --allowed-roots "$work" > "$work/stream.log" 2>&1 ) &
stream=$!; pids+=("$stream")

# memory every 30 s: heap in use (jcmd GC.heap_info) and resident set size, for both JVMs
sample() {
  local heap rss
  heap=$(jcmd "$1" GC.heap_info 2>/dev/null | sed -n 's/.*total [0-9]*K, used \([0-9]*\)K.*/\1/p' | head -n1)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null)
  echo "$((${heap:-0} / 1024)) $((${rss:-0} / 1024))"
}
(
  t=0
  while true; do
    echo "$t $(sample "$train") $(sample "$stream")"
    sleep 30; t=$((t + 30))
  done
) > "$work/memory.txt" &
pids+=("$!")

sleep 20   # the scorer is up and has loaded the model
# shellcheck disable=SC2046
OMP_NUM_THREADS=1 java -Xmx2g $(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh") \
  -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$cp" "$ROOT/bench/KafkaScorerBench.java" \
  soak "127.0.0.1:$port" "$work" image-paths predictions "$rate" "$count" 2> >(grep -v ' WARN ' >&2)
echo "memory (MB) every 30 s: seconds, training heap used, training RSS, scorer heap used, scorer RSS"
cat "$work/memory.txt"
if kill -0 "$train" 2>/dev/null; then echo "training still running at the end of the load (its last line: $(grep ' ex/s ' "$work/train.log" | tail -n1))"; fi
# growth over the last 30 minutes of samples (or all of them): mean of the first three samples of the
# window against the mean of the last three; and, because the resident size of a JVM whose collector
# frees native memory is a sawtooth, the highest sample of the window's first third against the highest
# of its last third (a leak raises the peaks; a sawtooth does not)
awk '
  { t[NR] = $1; tr[NR] = $3; sc[NR] = $5 }
  END {
    from = 1; while (from < NR && t[NR] - t[from] > 1800) from++
    for (c = 0; c < 2; c++) {
      a = 0; b = 0; m = 0
      for (i = from; i < from + 3; i++) a += (c ? sc[i] : tr[i]) / 3
      for (i = NR - 2; i <= NR; i++) b += (c ? sc[i] : tr[i]) / 3
      for (i = from; i <= NR; i++) if ((c ? sc[i] : tr[i]) > m) m = (c ? sc[i] : tr[i])
      third = int((NR - from + 1) / 3); p1 = 0; p3 = 0
      for (i = from; i < from + third; i++) if ((c ? sc[i] : tr[i]) > p1) p1 = (c ? sc[i] : tr[i])
      for (i = NR - third + 1; i <= NR; i++) if ((c ? sc[i] : tr[i]) > p3) p3 = (c ? sc[i] : tr[i])
      printf "%s RSS over the last %d s: %.0f MB -> %.0f MB (%+.1f%%), highest %d MB; peak of the first third %d MB, of the last third %d MB (%+.1f%%)\n",
        (c ? "scorer" : "training"), t[NR] - t[from], a, b, 100 * (b - a) / a, m, p1, p3, 100 * (p3 - p1) / p1
    }
  }' "$work/memory.txt"
