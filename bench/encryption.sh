#!/usr/bin/env bash
# What encrypting the summation service costs, side by side in one run on this machine: ./submit.sh train
# with the BytePS trainer, alternately without and with Spark's authentication and network encryption
# (spark.authenticate + spark.network.crypto.enabled: the service is then keyed by Spark's secret and every
# frame is AES-GCM sealed), N times each. Per run, from the run's history.jsonl (evaluations after the
# first, whose window holds the JIT's warm-up): the mean step time, the push/pull share of a step, the
# bytes pushed+pulled per worker step, and examples/s; then the ratios of the means, on over off.
#   bench/encryption.sh [N] [MODEL]      (defaults 2 resnet; 1 epoch, evaluation every 20 steps; needs jq)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
n="${1:-2}"
model="${2:-resnet}"
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# step_ms push_pull_share bytes examples/s: means over a run's evaluations after the first
figures() {
  jq -s '[.[1:][]] | [ (map(.stats.step_ms) | add / length), (map(.stats.push_pull_share) | add / length),
         (map(.stats.bytes_pushed_per_step + .stats.bytes_pulled_per_step) | add / length), (map(.examples_per_second) | add / length) ]
         | @tsv' -r "$1"/runs/*/history.jsonl
}

printf '%-10s %-5s %10s %16s %14s %12s\n' encrypted trial "step ms" "push/pull share" "bytes/step" "examples/s"
for i in $(seq "$n"); do
  for mode in off on; do
    extra=()
    [ "$mode" = on ] && extra=(--conf spark.authenticate=true --conf spark.network.crypto.enabled=true)
    "$ROOT/submit.sh" train --model "$model" --epochs 1 --eval-every 20 --checkpoint-dir "$work/$mode-$i" "${extra[@]}" >"$work/$mode-$i.log" 2>&1 \
      || { echo "run $mode-$i failed:"; tail -5 "$work/$mode-$i.log"; exit 1; }
    grep -q "AES-GCM encrypted" "$work/$mode-$i.log" && [ "$mode" = off ] && { echo "run $mode-$i was encrypted"; exit 1; }
    read -r step share bytes eps <<< "$(figures "$work/$mode-$i")"
    printf '%-10s %-5s %10.1f %16.3f %14.0f %12.0f\n' "$mode" "$i" "$step" "$share" "$bytes" "$eps" | tee -a "$work/table"
  done
done
awk '{s[$1]+=$3; p[$1]+=$4; e[$1]+=$6; c[$1]++}
     END {printf "\nencrypted/clear, means of %d runs each: step time %.3f, push/pull share %.3f -> %.3f, examples/s %.3f\n",
          c["on"], (s["on"]/c["on"])/(s["off"]/c["off"]), p["off"]/c["off"], p["on"]/c["on"], (e["on"]/c["on"])/(e["off"]/c["off"])}' "$work/table"
