#!/usr/bin/env bash
# Trainer comparison in one run, same data, model, global batch and machine: single-JVM DL4J fit (its
# own JVM, ND4J on every core), then --trainer averaging, shared and byteps (one JVM, Spark local mode,
# one ND4J thread per task), and a table of them with the time to two target dev accuracies.
#   bench/trainers.sh [EPOCHS] [MODEL] [DATA] [variants]   (defaults 5 lenet digits)
#     MODEL: lenet, mlp or resnet; DATA: any --data SPEC (fashion needs Debian's dataset-fashion-mnist)
#     variants: also byteps with fp16, with 64 KiB / 1 MiB / 4 MiB partitions, and with dedicated servers
#   Targets: 0.96 and 0.97 dev accuracy on digits, 0.85 and 0.88 otherwise; TARGETS="LOW HIGH" overrides.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
epochs="${1:-5}"
model="${2:-lenet}"
data="${3:-digits}"
variants="${4:-}"
if [ -n "${TARGETS:-}" ]; then read -r low high <<< "$TARGETS"
elif [ "$data" = digits ]; then low=0.96; high=0.97
else low=0.85; high=0.88; fi
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
cp="$jar:$(cat "$ROOT/jobs/target/classpath.txt")"
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
single=$(mktemp)
trap 'rm -f "$single"' EXIT
# ND4J sizes its thread pool from OMP_NUM_THREADS when the JVM starts
# shellcheck disable=SC2086
OMP_NUM_THREADS=$(nproc) java -Xmx4g $JAVA17_FLAGS -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$cp" "$ROOT/bench/TrainerComparison.java" single "$epochs" "$single" "$model" "$data" "$low" "$high"
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 SPARK_LOCAL_IP=127.0.0.1 java -Xmx6g $JAVA17_FLAGS -Dorg.eclipse.deeplearning4j.helpers.disable=false -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$cp" "$ROOT/bench/TrainerComparison.java" spark "$epochs" "$single" "$model" "$data" "$low" "$high" $variants
