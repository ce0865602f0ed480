#!/usr/bin/env bash
# The summation service's own cost per value on this machine (loopback, no shaping): fp32, fp16 and
# encrypted fp32, side by side in one JVM; see bench/ExchangeCost.java. Compare with the c that
# bench/scaling.py fits to the emulated cluster, which adds the veths, bridge, shaping and delay queue.
#   bench/exchange-cost.sh [VALUES] [ROUNDS]     (defaults: 1357500, resnet's gradient; 40)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/submit.sh" --help >/dev/null   # builds if needed
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
exec java -Xmx2g -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$jar:$(cat "$ROOT/jobs/target/classpath.txt")" "$ROOT/bench/ExchangeCost.java" "${1:-1357500}" "${2:-40}"
