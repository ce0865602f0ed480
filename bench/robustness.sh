#!/usr/bin/env bash
# Robustness of the input preparation, one table per data set (docs/ROBUSTNESS.md): the test split rendered
# the way people hand images over, written as files, prepared through the checkpoint's input contract and
# scored, next to the network's own test accuracy, in one run.
#   bench/robustness.sh [digits|fashion] [EPOCHS] [STRIDE]     (defaults: digits, 5, 1; fashion: 2 epochs, every 5th)
# Trains a checkpoint into bench/work/robustness-DATA first unless one is there, with --augment (the setting
# for images from outside the data set). Example images of every rendering go to bench/work/robustness-DATA-samples.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
data="${1:-digits}"
if [ "$data" = fashion ]; then epochs="${2:-2}"; stride="${3:-5}"; else epochs="${2:-5}"; stride="${3:-1}"; fi
ckpt="$ROOT/bench/work/robustness-$data"
if [ ! -f "$ckpt/best.json" ]; then
  "$ROOT/submit.sh" train --data "$data" --augment --epochs "$epochs" --checkpoint-dir "$ckpt"
fi
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec java -Xmx4g -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$jar:$(cat "$ROOT/jobs/target/classpath.txt")" "$ROOT/bench/Robustness.java" "$data" "$ckpt" "$stride" "$ROOT/bench/work/robustness-$data-samples"
