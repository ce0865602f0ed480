#!/usr/bin/env bash
# How training recovers from failures, side by side in one run on this machine (./submit.sh train, BytePS,
# 1 epoch, evaluation every 20 steps, N times each):
#   clean      no failure: the time from the evaluation at step 40 to the one at step 60
#   retried    worker 1 fails at step 45 (test hook): the same interval, which now holds the failure, the
#              end of the failed attempt's tasks and a new attempt resuming from step 40
#   garbage    best.json overwritten with garbage right after the first evaluation: the time until the
#              command has exited (an error no retry can fix: exit 2, no second attempt)
#   again      the same command a second time in the same checkpoint directory: its exit code
#   bench/recovery.sh [N]     (default 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
n="${1:-3}"
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }

# Prints each line of a command's standard output prefixed with the time it arrived.
stamped() { "$@" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(now)" "$line"; done; }

# Seconds between the evaluation lines of step $2 and step $3 in a stamped log $1.
between() {
  awk -v a="$2" -v b="$3" '$0 ~ " step "a" " && !ta {ta=$1} $0 ~ " step "b" " && !tb {tb=$1} END {printf "%.1f", tb-ta}' "$1"
}

printf '%-8s %s\n' case "seconds (one line per trial)"
for i in $(seq "$n"); do
  stamped "$ROOT/submit.sh" train --epochs 1 --eval-every 20 --checkpoint-dir "$work/clean-$i" >"$work/clean-$i.log"
  clean=$(between "$work/clean-$i.log" 40 60)
  stamped "$ROOT/submit.sh" train --epochs 1 --eval-every 20 --checkpoint-dir "$work/retry-$i" \
    --conf spark.livetrain.test.failAtStep=45 >"$work/retry-$i.log"
  grep -q 'attempt 1 failed' "$work/retry-$i.log" || { echo "retry $i: no retry happened"; cat "$work/retry-$i.log"; exit 1; }
  retried=$(between "$work/retry-$i.log" 40 60)

  ck="$work/garbage-$i"
  "$ROOT/submit.sh" train --epochs 3 --eval-every 10 --checkpoint-dir "$ck" >"$work/garbage-$i.log" 2>&1 &
  pid=$!
  until compgen -G "$ck/runs/*/history.jsonl" >/dev/null; do sleep 0.05; done
  echo '{"step": 1, "path": ' >"$ck/best.json"
  t0=$(now)
  rc=0
  wait "$pid" || rc=$?
  garbage=$(echo "$(now) - $t0" | bc)
  [ "$rc" = 2 ] || { echo "garbage $i: exit $rc, expected 2"; cat "$work/garbage-$i.log"; exit 1; }

  rc=0
  "$ROOT/submit.sh" train --epochs 1 --eval-every 20 --checkpoint-dir "$work/clean-$i" >"$work/again-$i.log" 2>&1 || rc=$?
  printf 'trial %d: clean 40->60 %s s, retried 40->60 %s s, garbage to exit %.1f s (exit 2), second run in the same directory: exit %s\n' \
    "$i" "$clean" "$retried" "$garbage" "$rc"
done
