#!/usr/bin/env python3
"""The cost model of docs/SCALING.md: fitted to bench/cluster-net.sh's results, then projected.

    bench/scaling.py RESULTS.tsv [RESULTS.tsv ...]

Step time = compute + push/pull (our worker computes the whole gradient, then exchanges it), and a
worker's push/pull is waiting for the slowest worker plus the exchange itself:

    push/pull = wait + exchange

  wait: a worker waits, on average, E[max of the N workers' compute] - E[its own] for the last one. The
  servers measure the spread directly: server_wait_ms, a round's first push to its last, is the range of the
  arrival times, and for a symmetric spread E[max] - E[mean] is half the range. So wait = server_wait / 2,
  measured like compute. Where it is not measured (dedicated servers) and in projections,
  wait = k x compute x e(N), with e(N) the expected maximum of N standard normal values (0.56 for 2, 1.03
  for 4, 2.81 for 256) and k, how much compute varies relative to itself, the median over the measured rows.
For BytePS with colocated servers on H hosts, p pushers per host (tasks per host, or 1 with local
reduction), M gradient bytes on the wire per push, link B bytes/s each way, round trip R:

    exchange = o + R + max(2 p M (H-1) / (H B),  c * 4 p V)      (V = M / 4 float32 values, or M / 2 fp16 values x f)

  2 p M (H-1)/H each way is what a host's link carries (its pushes to shards on other hosts, and its
  shards' answers to pushers on other hosts); 4 p V is what a host encodes, decodes and adds (its pushes
  and pulls, its shards' pushes in and answers out), divided by the host's share of a core when the
  emulated hosts outnumber this machine's cores; c is CPU seconds per value (our codec, and on this one
  machine both ends' TCP stacks), f the extra cost of an fp16 value (conversion), and o a fixed cost per
  step (the hand-offs between the task's thread and the event loops of client and server, each of which,
  on two cores shared by every emulated host, may wait for a time slice): the three fitted parameters.
  Network and CPU take the max, not the sum: a gradient goes in chunks, all sent before the first answer
  is awaited, so one chunk is encoded or summed while another is on the wire.
With S dedicated server hosts (byteps-ded) and P pushers in all, a server's link carries P M / S each way
and its CPU handles 2 P V / S values (decode the pushes, encode the answers) while the workers wait, and a
worker handles 2 V:  exchange = o + R + max(P M / (S B), c * (2 P V / S + 2 V)).
Only byteps rows are fitted (averaging and the shared trainer have no exchange time of their own), and not
the encrypted ones (no term for AES-GCM): they are shown beside the model.
Projections use the formulas in project() with every assumption in ASSUMPTIONS.
"""
import csv
import math
import sys

EMULATION_CORES = 2  # the emulated hosts share this machine's cores: with more hosts than cores, each host's CPU is a fraction of one
MODEL_BYTES = {"lenet": 431_080 * 4, "resnet": 5_430_000}  # float32 gradient bytes per push (measured bytes/step / 2)


def link(spec):
    """'1gbit/2ms' -> (bytes/s each way, round trip in s: 2 x the one-way delay plus the measured 0.08 ms base)."""
    rate, delay = spec.split("/")
    bits = float(rate.replace("gbit", "")) * 1e9
    return bits / 8, 2 * float(delay.replace("ms", "")) / 1e3 + 0.08e-3


def expected_max(n):
    """E[max of n independent standard normal values], by integrating x n phi(x) Phi(x)^(n-1) over [-8, 8]."""
    dx, total = 1e-3, 0.0
    for i in range(-8000, 8001):
        x = i * dx
        total += x * n * math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * (0.5 * (1 + math.erf(x / math.sqrt(2)))) ** (n - 1) * dx
    return total


E_MAX = {}


def e(n):
    if n not in E_MAX:
        E_MAX[n] = expected_max(n)
    return E_MAX[n]


def measured_wait_ms(row):
    """Half the measured spread of a round's pushes (see the top), or None where the servers did not measure it."""
    return float(row["server_wait_ms"]) / 2 if row.get("server_wait_ms") not in (None, "-", "") else None


def tasks_per_pusher(row):
    pushers = row.get("pushers")
    return int(row["workers"]) // int(pushers) if pushers not in (None, "", "-") else 1


def spread(rows):
    """k: the median over the rows that measured it (and push once per task) of wait / (compute x e(workers))."""
    ks = sorted(measured_wait_ms(r) / (float(r["compute_ms"]) * e(int(r["workers"]))) for r in rows
                if measured_wait_ms(r) is not None and tasks_per_pusher(r) == 1)
    return ks[len(ks) // 2] if ks else 0.0


def wait_ms(row, k):
    """With local reduction the servers see one push per group, sent when the group's slowest task is done: the
    wait inside the group, e(tasks per group) of the spread, comes on top of what the servers measure."""
    w = measured_wait_ms(row)
    if w is None:
        return k * float(row["compute_ms"]) * e(int(row["workers"]))
    g = tasks_per_pusher(row)
    return w + (k * float(row["compute_ms"]) * e(g) if g > 1 else 0)


def exchange_ms(row, c):
    """c = (seconds per float32 value handled, fp16 factor, fixed seconds per step); ms."""
    hosts, workers, servers = int(row["k"]), int(row["workers"]), int(row["servers"])
    pushers = int(row["pushers"]) if row.get("pushers", "-") not in ("-", "", None) else workers
    b, rtt = link(row["link"])
    m = float(row["bytes_per_worker_step"]) / 2  # pushed + pulled per pusher step, halved: one push's bytes (fp16 included)
    fp16 = row["trainer"].endswith("fp16")
    per_value = c[0] * (c[1] if fp16 else 1)
    values = m / (2 if fp16 else 4)
    if servers == 0:
        p = pushers / hosts  # pushers per host: tasks per host without local reduction, 1 with it
        cpu = per_value * 4 * p * values / min(1.0, EMULATION_CORES / hosts)  # a host's share of the machine's cores
        return 1e3 * (c[2] + rtt + max(2 * p * m * (hosts - 1) / (hosts * b), cpu))
    return 1e3 * (c[2] + rtt + max(pushers * m / (servers * b), per_value * (2 * pushers * values / servers + 2 * values)))


def predicted_push_pull_ms(row, c, k):
    return wait_ms(row, k) + exchange_ms(row, c)


def all_rows(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                r["source"] = p
                rows.append(r)
    return rows


def fitted_rows(rows):
    """The byteps rows that finished and measured push/pull: the ones the model is fitted to."""
    return [r for r in rows if r["trainer"].startswith("byteps") and r["push_pull_ms"] not in ("-", "") and r["error"] in ("-", "")
            and not encrypted(r)]


def encrypted(row):
    """Encrypted runs are not fitted: the model has no term for AES-GCM; it is shown as what they take beyond it."""
    return "crypto.enabled=true" in (row.get("extra") or "") or "ssl.enabled=true" in (row.get("extra") or "")


CONFIGURATION = ("k", "per_host", "link", "model", "trainer", "workers", "servers", "pushers", "extra")
AVERAGED = ("compute_ms", "push_pull_ms", "bytes_per_worker_step", "server_wait_ms")


def configurations(rows):
    """Runs of the same configuration merged: their means (the model is fitted to those; one run on this machine
    can be 30% off the next), with the number of runs and the lowest and highest push/pull."""
    merged = {}
    for r in rows:
        merged.setdefault(tuple(r.get(f) or "-" for f in CONFIGURATION), []).append(r)
    out = []
    for key, runs in merged.items():
        m = dict(zip(CONFIGURATION, key))
        for f in AVERAGED:
            v = [float(r[f]) for r in runs if r.get(f) not in (None, "", "-")]
            m[f] = str(sum(v) / len(v)) if v else "-"
        pp = [float(r["push_pull_ms"]) for r in runs]
        m.update(runs=len(runs), pp_low=min(pp), pp_high=max(pp))
        out.append(m)
    return out


def label(extra):
    """The options a row added, in a few words."""
    words = {"crypto.enabled=true": "encrypted", "ssl.enabled=true": "encrypted", "localReduction=false": "no local reduction"}
    found = [w for k, w in words.items() if k in (extra or "")]
    return ", ".join(dict.fromkeys(found)) or ("-" if extra in (None, "", "-") else extra)


def cell(row, name, digits=1):
    v = row.get(name)
    return "-" if v in (None, "", "-") else f"{float(v):,.{digits}f}"


def print_measurements(rows):
    """Every configuration as measured: the mean over its runs, and the lowest and highest where it ran more than once."""
    def mean(runs, name, digits=1, spread=False):
        v = [float(r[name]) for r in runs if r.get(name) not in (None, "", "-")]
        if not v:
            return "-"
        text = f"{sum(v) / len(v):,.{digits}f}"
        return text + (f" ({min(v):,.{digits}f}-{max(v):,.{digits}f})" if spread and len(v) > 1 else "")
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r.get(f) or "-" for f in CONFIGURATION), []).append(r)
    print("| hosts x tasks | link | model | trainer | extra | runs | examples/s | step ms | compute ms | compute sd ms | push/pull ms"
          " | MB per pusher step | server wait ms | pushers | best dev | s to 0.93 dev |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, runs in groups.items():
        r = runs[0]
        mb = "-" if r["bytes_per_worker_step"] in ("", "-") else f"{float(r['bytes_per_worker_step']) / 1e6:.2f}"
        print(f"| {r['k']} x {r['per_host']} | {r['link']} | {r['model']} | {r['trainer']} | {label(r.get('extra'))} | {len(runs)}"
              f" | {mean(runs, 'examples_per_s', 0, True)} | {mean(runs, 'step_ms')} | {mean(runs, 'compute_ms')} | {mean(runs, 'compute_sd_ms')}"
              f" | {mean(runs, 'push_pull_ms', 1, True)} | {mb} | {mean(runs, 'server_wait_ms')} | {r.get('pushers') or '-'}"
              f" | {mean(runs, 'best_dev_acc', 3)} | {mean(runs, 'sec_to_target')} |")


def fit(rows, k):
    """(c, f, o) minimising the squared relative errors of push/pull over the configurations, by a grid: c seconds
    per float32 value handled, f the factor fp16 values cost more (conversion), o fixed seconds per step. Least
    squares, not the largest error: single runs here scatter by up to a third, and one such run would otherwise
    decide the fit."""
    best = None
    for i in range(1, 200):
        for j in range(10, 40, 2):
            for o in range(0, 40):
                c = (i * 0.1e-9, j / 10, o * 0.5e-3)
                sq = sum((predicted_push_pull_ms(r, c, k) / float(r["push_pull_ms"]) - 1) ** 2 for r in rows)
                if best is None or sq < best[1]:
                    best = (c, sq)
    return best[0]


FIXED_ON_OWN_HOSTS = 0.1e-3  # s per step
CPU_ON_OWN_HOSTS = 2.5e-9  # s per float32 value handled

ASSUMPTIONS = {
    "batch per worker": 64,
    "compute per step, this machine's core (ms)": {"lenet": 70, "resnet": 250},
    "GPU-class worker: compute divided by": 20,
    "DL4J parameter averaging: every K steps": 5,
    "averaging: bytes per worker per round (parameters + Adam's two moments)": "3 M",
    "averaging: Spark's own cost per round (s, from the loopback runs)": 0.16,
    "servers (byteps, extra hosts)": "as many CPU-only hosts as workers, each on its own link",
    "spread of compute times": "k as measured here, where executors share 2 cores (pessimistic for hosts of their own)",
    "fixed cost per step on hosts of their own (s): a one-value round on an idle machine (bench/exchange-cost.sh 1)": FIXED_ON_OWN_HOSTS,
    "CPU per float32 value handled on hosts of their own (s): a warm fp32 round on loopback (bench/exchange-cost.sh)": CPU_ON_OWN_HOSTS,
}


def project(model, compute_ms, n, gbit, k):
    """examples/s of n workers for each design, on links of gbit each way and a 0.1 ms round trip, hosts of their
    own: each host's CPU work is its own, so work on different hosts overlaps (chunks are pipelined)."""
    b, rtt, m = gbit * 1e9 / 8, 0.1e-3, MODEL_BYTES[model]
    cpt, c = compute_ms / 1e3, CPU_ON_OWN_HOSTS
    v = m / 4  # float32 values
    wait = k * cpt * e(n) + FIXED_ON_OWN_HOSTS  # every synchronous design waits for the slowest worker; and the fixed cost of a step
    # a host encodes its push and decodes its pull, its shard decodes n pushes of V/n and encodes the answers: 4 V
    colocated = wait + rtt + max(2 * m * (n - 1) / (n * b), c * 4 * v)
    # a worker encodes and decodes 2 V; a server host decodes and encodes 2 V, on its own CPU
    extra_servers = wait + rtt + max(m / b, c * 2 * v)
    # reduce-scatter + all-gather: 2(N-1) hops of a one-way latency; each worker sends and receives 2 M (N-1)/N
    ring = wait + (n - 1) * rtt + max(2 * m * (n - 1) / (n * b), c * 4 * v * (n - 1) / n)
    every = ASSUMPTIONS["DL4J parameter averaging: every K steps"]
    # every K steps: the slowest worker's K steps (their spread grows with the square root of K), then the driver's round
    averaging = (k * cpt * math.sqrt(every) * e(n) + 3 * m * n / b + 3 * m / b * max(1, n.bit_length())
                 + ASSUMPTIONS["averaging: Spark's own cost per round (s, from the loopback runs)"]) / every
    batch = ASSUMPTIONS["batch per worker"]
    return {name: n * batch / (cpt + x) for name, x in
            [("byteps colocated", colocated), ("byteps + server hosts", extra_servers), ("ring all-reduce", ring), ("parameter averaging", averaging)]}


def main(paths):
    measured = all_rows(paths)
    print_measurements(measured)
    print()
    rows = configurations(fitted_rows(measured))
    if not rows:
        sys.exit("no byteps rows with an exchange time in " + ", ".join(paths))
    k = spread(rows)
    c = fit(rows, k)
    print(f"fitted: c = {c[0] * 1e9:.1f} ns per float32 value handled (encode, decode, add, and both ends' TCP: {4 / c[0] / 1e6:.0f} MB/s"
          f" of float32 per host); an fp16 value costs {c[1]:.1f}x that (conversion); a fixed o = {c[2] * 1e3:.1f} ms per step;"
          f" compute varies by k = {k:.3f} x compute (median)\n")
    print("| hosts x tasks | servers | link | model | trainer | extra | pushers | compute ms | wait ms | exchange ms (model)"
          " | push/pull ms measured (runs: lowest-highest) | model | error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        p = predicted_push_pull_ms(r, c, k)
        w = f"{wait_ms(r, k):.1f}" + ("" if measured_wait_ms(r) is not None else " (k)")
        runs = f" ({r['runs']}: {r['pp_low']:.1f}-{r['pp_high']:.1f})" if r["runs"] > 1 else ""
        print(f"| {r['k']} x {r['per_host']} | {'colocated' if r['servers'] == '0' else r['servers']} | {r['link']} | {r['model']} | {r['trainer']}"
              f" | {label(r['extra'])} | {r['pushers']} | {float(r['compute_ms']):.1f} | {w} | {exchange_ms(r, c):.1f}"
              f" | {float(r['push_pull_ms']):.1f}{runs} | {p:.1f} | {100 * (p / float(r['push_pull_ms']) - 1):+.0f}% |")
    sealed = configurations([r for r in measured if encrypted(r) and r["push_pull_ms"] not in ("-", "")])
    if sealed:
        print("\nencrypted runs (not fitted): push/pull measured, and the model's figure without encryption")
        print("| hosts x tasks | link | model | trainer | compute ms | wait ms | push/pull ms measured | model without encryption | beyond the model |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in sealed:
            p = predicted_push_pull_ms(r, c, k)
            print(f"| {r['k']} x {r['per_host']} | {r['link']} | {r['model']} | {r['trainer']} | {float(r['compute_ms']):.1f} | {wait_ms(r, k):.1f}"
                  f" | {float(r['push_pull_ms']):.1f} | {p:.1f} | {float(r['push_pull_ms']) - p:+.1f} ms |")
    print("\nassumptions:", ASSUMPTIONS)
    for model in ("lenet", "resnet"):
        for speed, div in (("this machine's core", 1), ("GPU-class (compute / 20)", ASSUMPTIONS["GPU-class worker: compute divided by"])):
            compute = ASSUMPTIONS["compute per step, this machine's core (ms)"][model] / div
            print(f"\n{model}, {speed}: compute {compute:.1f} ms per step; examples/s (and per worker)")
            print("| workers | link | byteps colocated | byteps + server hosts | ring all-reduce | parameter averaging |")
            print("| --- | --- | --- | --- | --- | --- |")
            for gbit in (10, 25):
                for n in (8, 16, 32, 64, 128, 256):
                    rates = project(model, compute, n, gbit, k)
                    cells = " | ".join(f"{v:,.0f} ({v / n:,.0f})" for v in rates.values())
                    print(f"| {n} | {gbit} Gbit | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1:])
