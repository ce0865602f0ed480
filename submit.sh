#!/usr/bin/env bash
# LiveTrain launcher.
#   ./submit.sh COMMAND [OPTIONS]     run a command (./submit.sh --help lists them)
#   ./submit.sh test                  run the full test suite
# Builds the project on first use and whenever a source changed. With SPARK_HOME set, commands go
# through $SPARK_HOME/bin/spark-submit with the application jar (extra spark-submit arguments, such as
# --master yarn, in LIVETRAIN_SUBMIT_ARGS); otherwise the same main class runs with Spark in local mode.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MAIN=org.livetrain.cli.LiveTrain
APP_JAR="$ROOT/jobs/target/livetrain-app.jar"
LOCAL_CP="$ROOT/jobs/target/classpath.txt"
# Spark's own list for Java 17 (org.apache.spark.launcher.JavaModuleOptions); spark-submit adds it by itself.
JAVA17_FLAGS="-XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED --add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED -Djdk.reflect.useDirectMethodHandle=false"

die() { echo "submit.sh: $*" >&2; exit 2; }

check_tools() {
  command -v java >/dev/null || die "java not found: install a Java 17 JDK"
  command -v mvn >/dev/null || die "mvn not found: install Apache Maven 3.8 or newer"
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ -n "$v" ] && [ "$v" -ge 17 ] || die "Java 17 or newer needed (found: $(java -version 2>&1 | head -n1))"
}

# Runs Maven offline when a build of these poms has succeeded on this machine before (a stamp in the local
# repository, named after the poms' checksum), online otherwise: a first build, or new dependencies, never
# starts with a failed offline attempt. Should the local repository have lost something since, the offline
# attempt's resolution errors are kept out of sight and Maven goes online.
mvn_run() {
  local repo="${MAVEN_REPO:-$HOME/.m2/repository}" sum stamp log rc=0
  sum=$(cat "$ROOT"/pom.xml "$ROOT"/*/pom.xml "$ROOT"/.mvn/maven.config 2>/dev/null | sha256sum | cut -c1-16)
  stamp="$repo/.livetrain-offline-$sum"
  if [ ! -f "$stamp" ]; then
    echo "submit.sh: fetching LiveTrain's dependencies from Maven Central (about 400 MB on a new machine, once; then the build works offline)..." >&2
    mvn -Dstyle.color=never "$@" && mkdir -p "$repo" && touch "$stamp"
    return $?
  fi
  log=$(mktemp)
  set +e
  mvn -o -Dstyle.color=never "$@" 2>&1 | tee "$log" | sed -u $'s/\x1b\\[[0-9;]*m//g' | grep --line-buffered -v '^$' \
    | grep --line-buffered -v -e 'in offline mode' -e 'has not been downloaded from it before' -e '^\[ERROR\] *$' -e '\[Help 1\]' -e 're-run Maven' -e 'Re-run Maven' -e 'full stack trace of the errors' -e 'please read the following articles' -e 'After correcting the problems' -e 'mvn <args> -rf'
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ] && grep -q -e 'offline mode' -e 'has not been downloaded' -e 'Could not resolve' -e 'could not be resolved' "$log"; then
    echo "submit.sh: the local Maven repository lacks some dependencies now: fetching them from Maven Central..." >&2
    rc=0
    mvn -Dstyle.color=never "$@" || rc=$?
  fi
  rm -f "$log"
  return "$rc"
}

# Builds when the jar is missing or any source, pom or conf file is newer than it.
build_if_needed() {
  local stamp="$1"; shift
  if [ -f "$stamp" ] && [ -z "$(find "$ROOT/pom.xml" "$ROOT/common" "$ROOT/jobs" "$ROOT/streaming" "$ROOT/conf" "$ROOT/data/digits" "$ROOT/.mvn" \
        -newer "$stamp" -type f -not -path '*/target/*' -print -quit)" ]; then
    return 0
  fi
  echo "submit.sh: building LiveTrain..." >&2
  (cd "$ROOT" && mvn_run -B -q -ntp package -DskipTests "$@") >&2 || die "build failed (see the Maven output above)"
  touch "$stamp"
}

usage_env() {
  cat <<'TXT'
Environment:
  SPARK_HOME              run through $SPARK_HOME/bin/spark-submit (a real cluster) instead of local mode
  LIVETRAIN_SUBMIT_ARGS   extra spark-submit arguments, e.g. "--master yarn --deploy-mode client"
  LIVETRAIN_JAVA_OPTS     JVM options in local mode (default -Xmx6g)
  LIVETRAIN_CLASSPATH     extra jars in local mode, e.g. Hadoop's S3A connector (hadoop-aws and its AWS SDK)
  LIVETRAIN_CONF          a defaults file to use instead of conf/livetrain.properties
Commands of submit.sh itself:
  test [--fast]           run the full test suite (JUnit 5, real Spark, Kafka, HDFS, real files); --fast: only
                          the tests without Spark, Kafka, HDFS or child JVMs (about a minute once compiled)
  jar                     build the application jar (Spark left out) and print its path: for spark-submit,
                          or spark-shell --jars (LiveTrain's Spark ML estimator and model)
TXT
}

cmd="${1:-}"
case "$cmd" in
  test)
    shift
    check_tools
    cd "$ROOT"
    # --fast: the tests tagged fast (no Spark, Kafka, HDFS or child JVMs), in about a minute once compiled;
    # any other argument goes to Maven (-Dtest=KafkaScorerTest, say)
    args=()
    for a in "$@"; do
      if [ "$a" = "--fast" ]; then args+=(-Dgroups=fast); else args+=("$a"); fi
    done
    mvn_run -B -ntp test ${args[@]+"${args[@]}"}
    exit $?
    ;;
  jar)
    check_tools
    build_if_needed "$APP_JAR" -Dlivetrain.shade.skip=false
    echo "$APP_JAR"
    exit 0
    ;;
esac

check_tools
conf_file="${LIVETRAIN_CONF:-$ROOT/conf/livetrain.properties}"
log_conf="$ROOT/conf/log4j2.properties"

if [ -n "${SPARK_HOME:-}" ]; then
  [ -x "$SPARK_HOME/bin/spark-submit" ] || die "SPARK_HOME=$SPARK_HOME has no bin/spark-submit"
  build_if_needed "$APP_JAR" -Dlivetrain.shade.skip=false
  # shellcheck disable=SC2086
  exec "$SPARK_HOME/bin/spark-submit" --class "$MAIN" \
    --driver-java-options "-XX:+ExplicitGCInvokesConcurrent -Dlog4j2.configurationFile=$log_conf -Dlivetrain.conf=$conf_file" \
    ${LIVETRAIN_SUBMIT_ARGS:-} "$APP_JAR" "$@"
fi

build_if_needed "$LOCAL_CP"
jar=$(ls "$ROOT"/jobs/target/livetrain-jobs-*.jar | head -n1)
# Local mode: every listener on loopback; ND4J gets one OpenMP thread per task so that tasks sharing
# this JVM do not oversubscribe the cores (override with OMP_NUM_THREADS).
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# glibc: two malloc arenas instead of 8 per core, so that native memory freed by one thread is reused by the
# others rather than kept in a per-thread arena (docs/PERFORMANCE.md, soak; no cost to training measured).
# A fixed MALLOC_MMAP_THRESHOLD_ was tried too and made training 17% slower. Executors get the same through
# spark.executorEnv.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
if [ "$cmd" = "--help" ] || [ "$cmd" = "-h" ] || [ -z "$cmd" ]; then
  # shellcheck disable=SC2086
  java $JAVA17_FLAGS -Dlog4j2.configurationFile="$log_conf" -Dlivetrain.conf="$conf_file" -cp "$jar:$(cat "$LOCAL_CP")" "$MAIN" --help
  echo
  usage_env
  [ -n "$cmd" ] && exit 0 || exit 2
fi
# shellcheck disable=SC2086
exec java ${LIVETRAIN_JAVA_OPTS:--Xmx6g} -XX:+ExplicitGCInvokesConcurrent $JAVA17_FLAGS -Dlog4j2.configurationFile="$log_conf" -Dlivetrain.conf="$conf_file" \
  -cp "$jar:$(cat "$LOCAL_CP")${LIVETRAIN_CLASSPATH:+:$LIVETRAIN_CLASSPATH}" "$MAIN" "$@"
