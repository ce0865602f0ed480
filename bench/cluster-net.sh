#!/usr/bin/env bash
# cluster-net.sh: LiveTrain's trainers on an emulated multi-host Spark standalone cluster on this one machine,
# with shaped links (bandwidth and latency), one table row per (hosts, link, model, trainer).
#
# Needs root (network namespaces, tc, iptables). Run by hand; not part of the test suite.
#   sudo bench/cluster-net.sh                 the matrix chosen by the variables below
#   sudo QUICK=1 bench/cluster-net.sh         smoke run: K=2, 1gbit/2ms, lenet, byteps colocated (a few minutes)
#   sudo NET_ONLY=1 bench/cluster-net.sh      only build the network and check the shaping of each link
#
# The emulated network, a private /24 ($SUBNET.0/24, default 10.77.0.0/24):
#   lt-sw            a namespace holding the bridge br0 (the "switch")
#   lt-master        $SUBNET.1: Spark Master and the driver (SparkSubmit, client deploy mode)
#   lt-h1..lt-hK     $SUBNET.11..: one Spark Worker each (--cores PER_HOST --memory 3g), so its executor too
#   lt-s1            $SUBNET.101: one more Worker, started only when a row needs a dedicated summation server
# Every host namespace is joined to br0 by a veth pair (eth0 inside, p-<host> in lt-sw). Each link is shaped in
# both directions: bandwidth with tbf on the egress of eth0 and of the switch-side end (burst 1 ms at the
# rate, at least 128 KiB; queue 5 ms, at least 512 KiB). Latency, since this kernel has no sch_netem, with
# bench/netdelay.c (compiled here with gcc): an iptables rule (xt NFQUEUE; the kernel has no nft queue
# statement) queues the packets each host receives from the /24 to NFQUEUE 0 of its namespace, and one
# netdelay per host, at real-time priority (chrt), holds each for the one-way delay and accepts it, in order,
# so RTT between two hosts = base + 2 x delay. The delay is taken on the receiving side, not in the sender's
# output path: packets held there still count against the sender's socket (TCP small queues), which capped a
# single 2 ms stream near 480 Mbit/s on either rate. The queue's own path (kernel -> netdelay -> kernel, about
# 0.1 ms) is measured with ping once per link before Spark starts and taken off netdelay's hold
# (CALIBRATE=0: not). TCP limits are raised in the namespaces (tcp_wmem/rmem max, tcp_limit_output_bytes:
# 32 MiB) so that a 10 Gbit/2 ms path is not limited by the socket buffers.
# Spark and every process listen only on namespace addresses or 127.0.0.1 (--host, SPARK_LOCAL_IP,
# spark.driver.host/bindAddress); the listening sockets of all namespaces are checked during each row.
#
# Environment (defaults in brackets):
#   QUICK=1        smoke run (KS=2 LINKS=1gbit/2ms MODELS=lenet TRAINERS=byteps)
#   KS             host counts K ["2 4"]
#   LINKS          links RATE/DELAYms, or "none" for an unshaped link ["1gbit/0.2ms 1gbit/2ms 10gbit/0.2ms 10gbit/2ms"]
#   MODELS         ["lenet resnet"]
#   TRAINERS       from: byteps (colocated, --servers 0), byteps-ded (--servers 1, on lt-s1), byteps-fp16
#                  (colocated, --compress fp16), averaging, shared ["byteps byteps-ded byteps-fp16 averaging shared"]
#   PER_HOST       worker tasks per host, all in one executor: 2 gives --cores 2, spark.executor.cores=2 and
#                  2K workers (local-reduction comparison) [1]
#   EXTRA          extra `train` options for every row, e.g. "--conf spark.network.crypto.enabled=true
#                  --conf spark.authenticate=true --conf spark.authenticate.secret=S" []
#   SUBMIT_EXTRA   extra spark-submit options for every row []
#   DAEMON_OPTS    extra JVM options of the Master and Workers (e.g. -Dspark.authenticate=true
#                  -Dspark.authenticate.secret=S, which standalone daemons need when the application
#                  authenticates) []
#   EPOCHS [1]  TARGET dev accuracy for "time to target" [0.93]
#   EVAL_EVERY     --eval-every; auto: 60 / workers (30 at K=2, as every 3,840 examples; K=4 gets 15, so that
#                  its 31-step epoch has more than one window after the first) [auto]
#   ROW_TIMEOUT    seconds per row before it is stopped and reported as failed [900]
#   DRIVER_MEM     driver heap [2g]
#   CHECK_NET      1: ping RTT (ping -U: user to user; the kernel's receive timestamp comes before the delay)
#                  and one iperf3 TCP stream between lt-h1 and lt-h2, unshaped and for each link, before
#                  Spark starts [1]
#   CALIBRATE      1: take the delay path's own cost (measured with ping) off netdelay's hold [1]
#   DELAY_HOOK     input (default) or output: where the NFQUEUE rule sits (output shows the TSQ cap above)
#   NET_ONLY       1: only the network and its checks, no Spark [0]
#   SUBNET         the first three octets of the /24 [10.77.0]
#   OUT            where the results go (kept) [a new mktemp -d directory]: results.tsv, net.tsv,
#                  listeners.txt, rows/<row>/ (driver log, history.jsonl, executor stderr tails)
# Installs with apt-get when missing: iptables, iproute2, iputils-ping, gcc, libmnl-dev, jq, iperf3 (optional).
#
# Cleanup (trap on EXIT, INT, TERM; also done at the start for the leftovers of an interrupted run): every
# process in the namespaces lt-sw, lt-master, lt-hN, lt-sN (Master, Workers, executors, driver, netdelay,
# iperf3) is killed, then those namespaces are deleted, which removes their veths, bridge, qdiscs and
# iptables/nf_tables rules; the work directory (SPARK_HOME of symlinks, worker dirs, checkpoints) is
# deleted. Nothing is created in the root namespace. OUT (results, logs) is kept.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  KS=${KS:-2} LINKS=${LINKS:-1gbit/2ms} MODELS=${MODELS:-lenet} TRAINERS=${TRAINERS:-byteps}
fi
KS=${KS:-2 4}
LINKS=${LINKS:-1gbit/0.2ms 1gbit/2ms 10gbit/0.2ms 10gbit/2ms}
MODELS=${MODELS:-lenet resnet}
TRAINERS=${TRAINERS:-byteps byteps-ded byteps-fp16 averaging shared}
PER_HOST=${PER_HOST:-1}
EXTRA=${EXTRA:-}
SUBMIT_EXTRA=${SUBMIT_EXTRA:-}
EPOCHS=${EPOCHS:-1}
EVAL_EVERY=${EVAL_EVERY:-auto}
TARGET=${TARGET:-0.93}
ROW_TIMEOUT=${ROW_TIMEOUT:-900}
DRIVER_MEM=${DRIVER_MEM:-2g}
CHECK_NET=${CHECK_NET:-1}
NET_ONLY=${NET_ONLY:-0}
SUBNET=${SUBNET:-10.77.0}
MASTER_IP="$SUBNET.1"
MASTER_URL="spark://$MASTER_IP:7077"

say() { echo "cluster-net: $*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, tc, iptables)"
[[ "$SUBNET" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "SUBNET=$SUBNET: want three octets, e.g. 10.77.0"

# ---------------------------------------------------------------- tools
need_pkgs=()
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v tc >/dev/null || need_pkgs+=(iproute2)
command -v ss >/dev/null || need_pkgs+=(iproute2)
command -v iptables >/dev/null || need_pkgs+=(iptables)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
command -v gcc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v jq >/dev/null || need_pkgs+=(jq)
[ -f /usr/include/libmnl/libmnl.h ] || need_pkgs+=(libmnl-dev)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  say "installing ${need_pkgs[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null || die "apt-get install ${need_pkgs[*]} failed"
fi
IPTABLES=$(command -v iptables-nft || command -v iptables)
if [ "$CHECK_NET" = 1 ] && ! command -v iperf3 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null 2>&1 || say "iperf3 not installable: no throughput check"
fi

# ---------------------------------------------------------------- names, cleanup
our_ns_re='^lt-(sw|master|h[0-9]+|s[0-9]+)$'
our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "$our_ns_re" || true; }

kill_ns_procs() { # SIGTERM, then SIGKILL, every process of our namespaces
  local ns pids sig i
  for sig in TERM KILL; do
    pids=""
    for ns in $(our_namespaces); do pids="$pids $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
    [ -n "${pids// /}" ] || return 0
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true
    [ "$sig" = KILL ] && break
    for _ in $(seq 50); do
      pids=""
      for ns in $(our_namespaces); do pids="$pids$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
      [ -n "${pids// /}" ] || return 0
      sleep 0.2
    done
  done
  sleep 0.5
}

teardown() {
  kill_ns_procs
  local ns
  for ns in $(our_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
}

WORK=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  say "cleaning up (processes, namespaces with their links, qdiscs and rules, work directory)"
  [ -n "${bg_pids:-}" ] && kill "$bg_pids" 2>/dev/null
  teardown
  [ -n "$WORK" ] && rm -rf "$WORK"
  local left
  left=$(our_namespaces | tr '\n' ' ')
  [ -n "$left" ] && say "namespaces left: $left"
  [ -n "${OUT:-}" ] && say "results in $OUT"
  exit "$rc"
}
bg_pids=""
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

if [ -n "$(our_namespaces)" ]; then
  say "removing leftovers of an earlier run: $(our_namespaces | tr '\n' ' ')"
  teardown
fi

OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cluster-net.XXXXXX")}
mkdir -p "$OUT/rows"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cluster-net-work.XXXXXX")

gcc -O2 -Wall -o "$WORK/netdelay" "$BENCH/netdelay.c" -lmnl || die "cannot compile bench/netdelay.c"

# ---------------------------------------------------------------- network
ip_of() { # namespace -> address
  case "$1" in
    lt-master) echo "$MASTER_IP" ;;
    lt-h*) echo "$SUBNET.$((10 + ${1#lt-h}))" ;;
    lt-s*) echo "$SUBNET.$((100 + ${1#lt-s}))" ;;
  esac
}

net_init() {
  ip netns add lt-sw
  ip -n lt-sw link set lo up
  ip -n lt-sw link add br0 type bridge
  ip -n lt-sw link set br0 up
}

host_add() { # ns: its namespace, veth to the switch, address, NFQUEUE rule, TCP limits
  local ns="$1" addr sw
  addr=$(ip_of "$ns")
  sw=p-${ns#lt-}
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add name eth0 type veth peer name "$sw" netns lt-sw
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n lt-sw link set dev "$sw" master br0
  ip -n lt-sw link set "$sw" up
  ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_limit_output_bytes=33554432 \
    net.ipv4.tcp_wmem="4096 16384 33554432" net.ipv4.tcp_rmem="4096 131072 33554432"
  # no listener on the queue (unshaped, or between two delayers): --queue-bypass lets the packets through.
  # iptables, not nft's own queue statement: this kernel has xt NFQUEUE (through nft_compat) but no nft_queue.
  if [ "${DELAY_HOOK:-input}" = output ]; then
    ip netns exec "$ns" "$IPTABLES" -w -A OUTPUT -o eth0 -d "$SUBNET.0/24" -j NFQUEUE --queue-num 0 --queue-bypass
  else
    ip netns exec "$ns" "$IPTABLES" -w -A INPUT -i eth0 -s "$SUBNET.0/24" -j NFQUEUE --queue-num 0 --queue-bypass
  fi
  HOSTS+=("$ns")
}

# delayer pids by namespace
declare -A DELAYER=()
HOSTS=()

link_parse() { # "1gbit/2ms" -> "RATE_TC BYTES_PER_S DELAY_MS"
  local l="$1"
  [[ "$l" =~ ^([0-9]+)([kmg])bit/([0-9]+(\.[0-9]+)?)ms$ ]] || die "LINKS: '$l' is not RATE/DELAYms (e.g. 1gbit/0.2ms) or none"
  local n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]} mul
  case "$u" in k) mul=1000 ;; m) mul=1000000 ;; g) mul=1000000000 ;; esac
  echo "${n}${u}bit $((n * mul / 8)) $d"
}

rtt_ms() { # mean ping RTT lt-h1 -> lt-h2 in ms; -U: user to user (the kernel's receive timestamp comes before the delay)
  ip netns exec lt-h1 ping -U -q -c "${1:-50}" -i 0.02 -W 2 "$(ip_of lt-h2)" 2>/dev/null | sed -n 's|^rtt .* = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

delayers_stop() {
  local ns
  for ns in "${!DELAYER[@]}"; do
    kill -TERM "${DELAYER[$ns]}" 2>/dev/null || true
    wait "${DELAYER[$ns]}" 2>/dev/null || true
    unset "DELAYER[$ns]"
  done
}

delayers_start() { # microseconds: one netdelay per host namespace, real-time priority when chrt is there
  local us="$1" ns rt=()
  command -v chrt >/dev/null && rt=(chrt -f 50)
  for ns in "${HOSTS[@]}"; do
    ip netns exec "$ns" "${rt[@]}" "$WORK/netdelay" 0 "$us" 2>>"$OUT/netdelay-$ns.log" &
    DELAYER[$ns]=$!
  done
  sleep 0.3
}

DELAYER_US=0
declare -A CAL=() # link -> netdelay's hold in us, after calibration
shape() { # link: set every host link's qdiscs (both ends) and the delayers
  local link="$1" ns sw rate bps delay burst limit us rtt excess
  delayers_stop
  DELAYER_US=0
  for ns in "${HOSTS[@]}"; do
    sw=p-${ns#lt-}
    if [ "$link" = none ]; then
      tc -n "$ns" qdisc del dev eth0 root 2>/dev/null || true
      tc -n lt-sw qdisc del dev "$sw" root 2>/dev/null || true
      continue
    fi
    read -r rate bps delay <<<"$(link_parse "$link")"
    # burst: 1 ms at the rate, at least 128 KiB (a whole GSO packet); queue: 5 ms at the rate, at least 512 KiB
    burst=$((bps / 1000)); [ "$burst" -ge 131072 ] || burst=131072
    limit=$((bps / 200)); [ "$limit" -ge 524288 ] || limit=524288
    tc -n "$ns" qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" limit "$limit"
    tc -n lt-sw qdisc replace dev "$sw" root tbf rate "$rate" burst "$burst" limit "$limit"
  done
  [ "$link" = none ] && return 0
  us=$(awk -v d="$delay" 'BEGIN{printf "%d", d * 1000}')
  [ "$us" -gt 0 ] || return 0
  if [ -n "${CAL[$link]:-}" ]; then
    us=${CAL[$link]}
    delayers_start "$us"
    DELAYER_US=$us
    return 0
  fi
  delayers_start "$us"
  # calibration, once per link (before Spark starts): the queue's own path (kernel -> netdelay -> kernel,
  # tens of microseconds) comes on top of netdelay's hold; measure the excess with ping and hold that much
  # less (at most half the delay)
  if [ "${CALIBRATE:-1}" = 1 ] && [ -n "${BASE_RTT:-}" ]; then
    rtt=$(rtt_ms 100)
    excess=$(awk -v r="$rtt" -v b="$BASE_RTT" -v d="$delay" 'BEGIN{e = (r - b - 2 * d) / 2 * 1000; printf "%d", (e > 0 ? e : 0)}')
    if [ "$excess" -gt 5 ]; then
      [ "$excess" -le $((us / 2)) ] || excess=$((us / 2))
      delayers_stop
      us=$((us - excess))
      delayers_start "$us"
      say "link $link: the delay path adds ${excess} us per direction (ping): netdelay holds ${us} us"
    fi
  fi
  DELAYER_US=$us
  CAL[$link]=$us
}

net_check() { # link: ping RTT and one TCP stream between lt-h1 and lt-h2, against what the link should give
  local link="$1" a b rtt base="${BASE_RTT:-}" tput="-" cap="-" expect="-" rate bps delay
  a=lt-h1 b=lt-h2
  rtt=$(rtt_ms 100)
  if [ "$link" != none ]; then
    read -r rate bps delay <<<"$(link_parse "$link")"
    cap=$((bps * 8 / 1000000))
    [ -n "$base" ] && expect=$(awk -v b="$base" -v d="$delay" 'BEGIN{printf "%.3f", b + 2 * d}')
  fi
  if command -v iperf3 >/dev/null; then
    ip netns exec "$b" iperf3 -s -1 -B "$(ip_of "$b")" -p 5201 >/dev/null 2>&1 &
    local srv=$!
    sleep 0.5
    tput=$(ip netns exec "$a" iperf3 -c "$(ip_of "$b")" -B "$(ip_of "$a")" -p 5201 -t 4 -O 1 -J 2>/dev/null \
      | jq -r '.end.sum_received.bits_per_second / 1e6 | floor' 2>/dev/null || echo "-")
    wait "$srv" 2>/dev/null || true
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$link" "${rtt:--}" "$expect" "${tput:--}" "$cap" "$DELAYER_US" >>"$OUT/net.tsv"
  say "link $link: ping RTT avg ${rtt:-?} ms (expected ${expect}), iperf3 one TCP stream ${tput} Mbit/s (cap ${cap})"
}

# listening sockets (TCP and UDP) of all our namespaces: "namespace proto address:port process", added to a file
proc_name() {
  local c
  c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || { echo "pid$1"; return; }
  case "$c" in
    *CoarseGrainedExecutorBackend*) echo executor ;;
    *deploy.master.Master*) echo master ;;
    *deploy.worker.Worker*) echo worker ;;
    *SparkSubmit*) echo driver ;;
    *) c=${c%% *}; echo "${c##*/}" ;;
  esac
}
listeners_snapshot() {
  local f="$1" ns proto addr users pid
  for ns in $(our_namespaces); do
    while read -r proto _ _ _ addr _ users; do
      pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$users" | head -n1)
      echo "$ns $proto $addr $(proc_name "${pid:-0}")"
    done < <(ip netns exec "$ns" ss -H -ltnup 2>/dev/null)
  done >>"$f.tmp"
  sort -u "$f.tmp" >"$f"
}
# how many of a file's listeners are on a wildcard address (0.0.0.0, *, ::)
wildcards() { grep -cE ' (0\.0\.0\.0|\*|\[::\]|::|\[::ffff:0\.0\.0\.0\])(%[^ ]*)?:[0-9*]+ ' "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- Spark
JAVA17_FLAGS=$(sed -n 's/^JAVA17_FLAGS="\(.*\)"$/\1/p' "$ROOT/submit.sh")
[ -n "$JAVA17_FLAGS" ] || die "cannot read JAVA17_FLAGS from submit.sh"
LOG4J="$ROOT/conf/log4j2.properties"

spark_home() {
  "$ROOT/submit.sh" --help >/dev/null 2>&1 || die "build failed: run ./submit.sh --help"
  JAR=$(find "$ROOT/jobs/target" -maxdepth 1 -name 'livetrain-jobs-*.jar' ! -name '*sources*' | head -n1)
  [ -n "$JAR" ] || die "no jobs/target/livetrain-jobs-*.jar"
  SH="$WORK/spark-home"
  mkdir -p "$SH/jars"
  local e cp=()
  # a SPARK_HOME whose jars/ holds the jars of the classpath (as StandaloneClusterTest), and the jobs jar
  IFS=: read -r -a cp <"$ROOT/jobs/target/classpath.txt" || true
  for e in "${cp[@]}"; do
    case "$e" in *.jar) if [ -f "$e" ]; then ln -sf "$e" "$SH/jars/"; fi ;; esac
  done
  ln -sf "$JAR" "$SH/jars/"
  # SparkSubmit wants a primary resource; the classes come from jars/
  (cd "$WORK" && mkdir -p empty && printf 'Manifest-Version: 1.0\n' >manifest && jar cfm app.jar manifest -C empty .)
}

in_ns() { # ns cmd...: run in the namespace with the environment every Spark process gets
  local ns="$1"; shift
  ip netns exec "$ns" env SPARK_HOME="$SH" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP="$(ip_of "$ns")" \
    OMP_NUM_THREADS=1 MALLOC_ARENA_MAX=2 "$@"
}

spark_daemon() { # ns class args...
  local ns="$1" cls="$2"; shift 2
  # shellcheck disable=SC2086
  in_ns "$ns" java -Xmx512m $JAVA17_FLAGS ${DAEMON_OPTS:-} -cp "$SH/jars/*" "$cls" "$@" >>"$OUT/daemon-$ns.log" 2>&1 &
}

wait_log() { # file pattern seconds
  local i
  for i in $(seq "$(($3 * 2))"); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}

cluster_up() { # K with_server: master + K workers (+ lt-s1)
  local k="$1" ws="$2" i ns
  spark_daemon lt-master org.apache.spark.deploy.master.Master --host "$MASTER_IP" --port 7077 --webui-port 8080
  wait_log "$OUT/daemon-lt-master.log" "I have been elected leader" 60 || { tail -20 "$OUT/daemon-lt-master.log" >&2; die "the Master did not start"; }
  local wlist=()
  for i in $(seq "$k"); do wlist+=("lt-h$i"); done
  [ "$ws" = 1 ] && wlist+=(lt-s1)
  for ns in "${wlist[@]}"; do
    mkdir -p "$WORK/work-$ns"
    spark_daemon "$ns" org.apache.spark.deploy.worker.Worker --host "$(ip_of "$ns")" --cores "$PER_HOST" --memory 3g \
      --webui-port 8081 --work-dir "$WORK/work-$ns" "$MASTER_URL"
  done
  for ns in "${wlist[@]}"; do
    wait_log "$OUT/daemon-$ns.log" "Successfully registered with master" 60 || { tail -20 "$OUT/daemon-$ns.log" >&2; die "Worker $ns did not register"; }
  done
  say "cluster up: Master $MASTER_URL, Workers ${wlist[*]} (--cores $PER_HOST --memory 3g)"
}

cluster_down() {
  teardown_spark_only
}
signal_java() { # sends $1 to every java process of our namespaces
  local ns pid
  for ns in $(our_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      if grep -qa java "/proc/$pid/cmdline" 2>/dev/null; then kill "-$1" "$pid" 2>/dev/null || true; fi
    done
  done
}
teardown_spark_only() { # every java process of our namespaces: asked to stop, then killed
  signal_java TERM
  sleep 3
  signal_java KILL
  return 0
}

executors() { # how many executor JVMs run in our namespaces
  local ns pid n=0
  for ns in $(our_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      grep -qa CoarseGrainedExecutorBackend "/proc/$pid/cmdline" 2>/dev/null && n=$((n + 1))
    done
  done
  echo "$n"
}

# figures of a run from its history.jsonl (one flat JSON object per evaluation), tab-separated:
# evals examples/s step_ms compute_ms push_pull_ms bytes_per_step server_wait_ms best_acc time_to_target compute_sd_ms
# Over the windows after the first evaluation (its window holds the JIT's warm-up and the executors' start),
# weighted by their steps: examples/s = steps / sum(steps / examples_per_second); step_ms, compute_ms
# (step_ms x (1 - push_pull_share)), push_pull_ms and bytes (pushed + pulled per worker step) from the byteps
# stats, server_wait_ms and compute_sd_ms (one step's compute time varies by this much) when present.
# With one evaluation (averaging, shared: one per epoch), that one, and step_ms = train_seconds / steps. time_to_target: elapsed_seconds (from the run's start, executor
# start-up included) of the first evaluation at or above TARGET.
figures() {
  jq -s -r --argjson target "$TARGET" '
    def r(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
    [ .[] | (.meta // .) ] as $m | ($m | length) as $n
    | [ range(0; $n) | . as $i | $m[$i] + {ds: ($m[$i].step - (if $i > 0 then $m[$i - 1].step else 0 end))} ] as $w
    | (if $n > 1 then $w[1:] else $w end | map(select(.ds > 0))) as $u
    | ($u | map(.ds) | add) as $steps
    | def wmean(f): ([ $u[] | select((f) != null) | {d: .ds, v: f} ]) as $x
        | if ($x | length) == 0 then null else ($x | map(.d * .v) | add) / ($x | map(.d) | add) end;
    ( if ($u | all(.examples_per_second > 0)) and ($u | length) > 0
      then $steps / ($u | map(.ds / .examples_per_second) | add) else null end ) as $eps
    | (wmean(.stats.step_ms) // ($m | last | if .stats.train_seconds != null and .step > 0 then .stats.train_seconds * 1000 / .step else null end)) as $step
    | wmean(if .stats.step_ms != null and .stats.push_pull_share != null then .stats.step_ms * (1 - .stats.push_pull_share) else null end) as $comp
    | wmean(if .stats.step_ms != null and .stats.push_pull_share != null then .stats.step_ms * .stats.push_pull_share else null end) as $pp
    | wmean(if .stats.bytes_pushed_per_step != null then .stats.bytes_pushed_per_step + (.stats.bytes_pulled_per_step // 0) else null end) as $bytes
    | wmean(.stats.server_wait_ms) as $wait
    | wmean(.stats.compute_sd_ms) as $sd
    | ($m | map(.dev_accuracy) | max) as $best
    | ([ $m[] | select(.dev_accuracy >= $target) | .elapsed_seconds ] | first) as $ttt
    | [ $n, ($eps | r(1)), ($step | r(1)), ($comp | r(1)), ($pp | r(1)), ($bytes | r(0)), ($wait | r(2)), ($best | r(4)), ($ttt | r(1)), ($sd | r(1)) ]
    | @tsv' "$1"
}

COLS="k\tper_host\tlink\tmodel\ttrainer\tworkers\tservers\texamples_per_s\tstep_ms\tcompute_ms\tpush_pull_ms\tbytes_per_worker_step\tserver_wait_ms\tbest_dev_acc\tsec_to_target\tevals\twall_s\twildcard_listeners\terror\tpushers\tcompute_sd_ms\textra"
printf '%b\n' "$COLS" >"$OUT/results.tsv"
printf 'link\tping_rtt_ms\texpected_rtt_ms\tiperf3_mbit\tcap_mbit\tnetdelay_us\n' >"$OUT/net.tsv"
ROWN=0

# EXTRA as the results show it: a secret's value is not written down
extra_label() {
  local e="${EXTRA:--}"
  printf '%s' "$e" | sed -E 's/(secret=)[^ ]*/\1***/g'
}

run_row() { # k link model trainer
  local k="$1" link="$2" model="$3" trainer="$4"
  local workers=$((k * PER_HOST)) servers=0 opts=() sconf=() err="" rc=0 name dir ckpt
  case "$trainer" in
    byteps) opts=(--trainer byteps --servers 0) ;;
    byteps-ded) opts=(--trainer byteps --servers 1); servers=1 ;;
    byteps-fp16) opts=(--trainer byteps --servers 0 --compress fp16) ;;
    averaging) opts=(--trainer averaging) ;;
    shared)
      opts=(--trainer shared)
      sconf=(--conf "spark.livetrain.shared.networkMask=$SUBNET.0/24"
        --conf "spark.executor.extraJavaOptions=$JAVA17_FLAGS -Daeron.publication.unblock.timeout=60000000000") ;;
    *) die "TRAINERS: unknown '$trainer'" ;;
  esac
  [ "${#sconf[@]}" -gt 0 ] || sconf=(--conf "spark.executor.extraJavaOptions=$JAVA17_FLAGS")
  local every=$EVAL_EVERY
  if [ "$every" = auto ]; then every=$((60 / workers)); [ "$every" -ge 5 ] || every=5; fi
  ROWN=$((ROWN + 1))
  name=$(printf '%02d-k%s-%s-%s-%s' "$ROWN" "$k" "${link//\//_}" "$model" "$trainer")
  dir="$OUT/rows/$name"
  ckpt="$WORK/ckpt-$name"
  mkdir -p "$dir"
  say "row $name: train ${opts[*]} --model $model --workers $workers --eval-every $every ${EXTRA}"
  local t0 t1 pid
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout -k 30 "$ROW_TIMEOUT" ip netns exec lt-master env SPARK_HOME="$SH" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP="$MASTER_IP" \
    OMP_NUM_THREADS=1 MALLOC_ARENA_MAX=2 \
    java -Xmx"$DRIVER_MEM" -XX:+ExplicitGCInvokesConcurrent $JAVA17_FLAGS -Dlog4j2.configurationFile="$LOG4J" \
    -cp "$SH/jars/*" org.apache.spark.deploy.SparkSubmit \
    --master "$MASTER_URL" --deploy-mode client --class org.livetrain.cli.LiveTrain \
    --conf spark.driver.host="$MASTER_IP" --conf spark.driver.bindAddress="$MASTER_IP" --conf spark.ui.enabled=false \
    --conf spark.executor.cores="$PER_HOST" --conf spark.cores.max=$(((k + servers) * PER_HOST)) \
    --conf spark.executor.memory=1500m --conf spark.executorEnv.MALLOC_ARENA_MAX=2 --conf spark.executorEnv.OMP_NUM_THREADS=1 \
    "${sconf[@]}" $SUBMIT_EXTRA \
    "$WORK/app.jar" train "${opts[@]}" --model "$model" --workers "$workers" --epochs "$EPOCHS" --eval-every "$every" \
    --checkpoint-dir "$ckpt" $EXTRA >"$dir/driver.log" 2>&1 &
  pid=$!
  bg_pids="$pid"
  while kill -0 "$pid" 2>/dev/null; do
    [ "$(executors)" -gt 0 ] && listeners_snapshot "$dir/listeners.txt"
    sleep 3
  done
  wait "$pid" || rc=$?
  bg_pids=""
  t1=$(date +%s)
  # executors of a failed or stopped application: gone within a few seconds, or killed
  local i
  for i in $(seq 20); do [ "$(executors)" = 0 ] && break; sleep 1; done
  if [ "$(executors)" != 0 ]; then
    local ns p
    for ns in $(our_namespaces); do
      for p in $(ip netns pids "$ns"); do
        if grep -qa CoarseGrainedExecutorBackend "/proc/$p/cmdline" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
      done
    done
  fi
  # keep the executors' stderr tails
  local f
  for f in "$WORK"/work-*/app-*/*/stderr; do
    [ -f "$f" ] || continue
    tail -n 60 "$f" >"$dir/executor-$(basename "$(dirname "$(dirname "$(dirname "$f")")")" | sed 's/^work-//')-$(basename "$(dirname "$f")").stderr.tail"
  done
  rm -rf "$WORK"/work-*/app-*
  local hist
  hist=$(find "$ckpt" -name history.jsonl -path '*/runs/*' 2>/dev/null | head -n1)
  [ -n "$hist" ] && cp "$hist" "$dir/history.jsonl"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    err="timeout after ${ROW_TIMEOUT}s"
  elif [ "$rc" != 0 ]; then
    err="exit $rc: $(grep -E 'Exception|Error|error|failed|refused' "$dir/driver.log" | grep -v -E '^\s+at ' | tail -n1 | cut -c1-200)"
  fi
  [ -n "$hist" ] || err="${err:-no history.jsonl}"
  local figs="-	-	-	-	-	-	-	-	-	-"
  if [ -n "$hist" ] && [ -s "$hist" ]; then figs=$(figures "$hist" 2>/dev/null) || figs="-	-	-	-	-	-	-	-	-	-"; fi
  local ev eps step comp pp bytes wait best ttt sd wild pushers=-
  # workers that talk to the servers: one per executor with local reduction, else every worker
  if [ -n "$hist" ] && [ -s "$hist" ]; then pushers=$(jq -s -r '[.[] | (.meta // .)] | last | .stats.pushers // "-"' "$hist" 2>/dev/null || echo -); fi
  IFS=$'\t' read -r ev eps step comp pp bytes wait best ttt sd <<<"$figs"
  rm -f "$dir/listeners.txt.tmp"
  wild=$(wildcards "$dir/listeners.txt")
  rm -rf "$ckpt"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$PER_HOST" "$link" "$model" "$trainer" "$workers" "$servers" \
    "$eps" "$step" "$comp" "$pp" "$bytes" "$wait" "$best" "$ttt" "$ev" "$((t1 - t0))" "${wild:-0}" "${err:--}" "$pushers" "$sd" "$(extra_label)" >>"$OUT/results.tsv"
  say "row $name: $(tail -n1 "$OUT/results.tsv" | tr '\t' ' ')"
}

print_table() {
  awk -F'\t' 'BEGIN { split("k ph link model trainer W S ex/s step_ms comp_ms pp_ms bytes/step wait_ms best_acc t_target evals wall_s wild error pushers sd_ms extra", h, " ") }
    NR == 1 { for (i = 1; i <= 22; i++) printf "%s%s", h[i], (i < 22 ? "\t" : "\n"); next }
    { print }' "$OUT/results.tsv" | column -t -s $'\t'
}

# ---------------------------------------------------------------- main
net_init
want_server=0
case " $TRAINERS " in *" byteps-ded "*) want_server=1 ;; esac
maxk=0
for k in $KS; do [ "$k" -gt "$maxk" ] && maxk=$k; done
[ "$maxk" -ge 2 ] || die "KS: at least 2 hosts"
host_add lt-master
for i in $(seq "$maxk"); do host_add "lt-h$i"; done
[ "$want_server" = 1 ] && host_add lt-s1
say "network: ${HOSTS[*]} on br0 in lt-sw, $SUBNET.0/24"

BASE_RTT=$(rtt_ms 100)
[ -n "$BASE_RTT" ] || die "no ping between lt-h1 and lt-h2"
if [ "$CHECK_NET" = 1 ]; then net_check none; fi
for link in $LINKS; do
  shape "$link"
  if [ "$CHECK_NET" = 1 ]; then net_check "$link"; fi
done
shape none
if [ "$NET_ONLY" = 1 ]; then
  column -t -s $'\t' "$OUT/net.tsv"
  exit 0
fi

spark_home
for k in $KS; do
  cluster_up "$k" "$want_server"
  listeners_snapshot "$OUT/listeners-k$k-daemons.txt"
  rm -f "$OUT/listeners-k$k-daemons.txt.tmp"
  for link in $LINKS; do
    shape "$link"
    for model in $MODELS; do
      for trainer in $TRAINERS; do
        run_row "$k" "$link" "$model" "$trainer" || say "row failed in the script itself: $?"
      done
    done
  done
  shape none
  cluster_down
done

# all listening sockets seen, by namespace
cat "$OUT"/listeners-*.txt "$OUT"/rows/*/listeners.txt 2>/dev/null | sort -u >"$OUT/listeners.txt" || true
echo
echo "Shaping checks (lt-h1 -> lt-h2):"
column -t -s $'\t' "$OUT/net.tsv"
echo
echo "Listening sockets: $(wc -l <"$OUT/listeners.txt") distinct (namespace, proto, address, process); on a wildcard address: $(wildcards "$OUT/listeners.txt")"
echo
print_table
echo
echo "TSV: $OUT/results.tsv"
