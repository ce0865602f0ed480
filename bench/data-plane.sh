#!/usr/bin/env bash
# The data plane side by side in one run (bench/DataPlane.java): the Fashion-MNIST images (60,000 training and
# 10,000 test images) as IDX files, as a folder of 70,000 PNGs on local disk and on HDFS (an in-process
# NameNode and DataNode on 127.0.0.1), and as a Parquet table on HDFS; the same model, seed and settings.
#   bench/data-plane.sh [EPOCHS]   (default 3; needs Debian's dataset-fashion-mnist)
# Prints a markdown table: first-epoch and later-epoch examples/s, dev accuracy, data check, listing time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
epochs="${1:-3}"
[ -d /usr/share/datasets/fashion-mnist ] || { echo "data-plane.sh: needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist" >&2; exit 2; }
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
# the in-process HDFS comes from the tests' class path (hadoop-client-minicluster)
(cd "$ROOT" && mvn -o -q -B dependency:build-classpath -pl jobs -Dmdep.includeScope=test -Dmdep.outputFile="$work/cp.txt" >/dev/null)
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 SPARK_LOCAL_IP=127.0.0.1 java -Xmx8g $JAVA17_FLAGS -Dorg.eclipse.deeplearning4j.helpers.disable=false \
  -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$jar:$(cat "$work/cp.txt")" "$ROOT/bench/DataPlane.java" "$work" "$epochs"
