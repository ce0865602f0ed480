#!/usr/bin/env python3
"""The cost model of docs/SCALING.md: fitted to bench/cluster-net.sh's results, then projected.

    bench/scaling.py RESULTS.tsv [RESULTS.tsv ...]

Step time = compute + exchange (our worker computes the whole gradient, then exchanges it: no overlap).
For BytePS with colocated servers on H hosts, p pushers per host (tasks per host, or 1 with local
reduction), M gradient bytes on the wire per push, link B bytes/s each way, round trip R:

    exchange = R + 2 p M (H-1) / (H B) + c * 4 p V      (V = M / 4 float32 values, or M / 2 fp16 values x f)

  2 p M (H-1)/H each way is what a host's link carries (its pushes to shards on other hosts, and its
  shards' answers to pushers on other hosts); 4 p M is what a host encodes, decodes and adds (its pushes
  and pulls, its shards' pushes in and answers out), divided by the host's share of a core when the
  emulated hosts outnumber this machine's cores; c is CPU seconds per value and f the extra cost of an
  fp16 value (conversion), the two fitted parameters. The terms add: the measurements show the network
  time and the CPU time do not hide each other (a 10 Gbit link saved what the model's network term says).
  Waiting for the slowest worker is not a term: it is measured (server_wait_ms) and shows in the error.
Only byteps rows are fitted (averaging and the shared trainer have no exchange time of their own).
Projections use the formulas in project() with every assumption in ASSUMPTIONS.
"""
import csv
import sys

EMULATION_CORES = 2  # the emulated hosts share this machine's cores: with more hosts than cores, each host's CPU is a fraction of one
MODEL_BYTES = {"lenet": 431_080 * 4, "resnet": 5_430_000}  # float32 gradient bytes per push (measured bytes/step / 2)


def link(spec):
    """'1gbit/2ms' -> (bytes/s each way, round trip in s: 2 x the one-way delay plus the measured 0.08 ms base)."""
    rate, delay = spec.split("/")
    bits = float(rate.replace("gbit", "")) * 1e9
    return bits / 8, 2 * float(delay.replace("ms", "")) / 1e3 + 0.08e-3


def predicted_exchange_ms(row, c):
    hosts = int(row["k"])
    pushers = int(row["pushers"]) if row.get("pushers", "-") not in ("-", "", None) else int(row["workers"])
    p = pushers / hosts  # pushers per host: tasks per host without local reduction, 1 with it
    b, rtt = link(row["link"])
    m = float(row["bytes_per_worker_step"]) / 2  # pushed + pulled per pusher step, halved: one push's bytes (fp16 included)
    fp16 = row["trainer"].endswith("fp16")
    values = m / (2 if fp16 else 4)
    cpu = c[0] * (c[1] if fp16 else 1) * 4 * p * values / min(1.0, EMULATION_CORES / hosts)  # a host's share of the machine's cores
    return 1e3 * (rtt + 2 * p * m * (hosts - 1) / (hosts * b) + cpu)


def rows_of(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                if r["trainer"].startswith("byteps") and r["push_pull_ms"] not in ("-", "") and r["error"] in ("-", ""):
                    r["source"] = p
                    rows.append(r)
    return rows


def fit(rows):
    """(c, f) minimising the largest relative error of the exchange time, by a grid: c seconds per float32
    value handled, f the factor fp16 values cost more (conversion)."""
    best = None
    for i in range(1, 800):
        for j in range(10, 60):
            c = (i * 0.1e-9, j / 10)
            worst = max(abs(predicted_exchange_ms(r, c) / float(r["push_pull_ms"]) - 1) for r in rows)
            if best is None or worst < best[1]:
                best = (c, worst)
    return best[0]


ASSUMPTIONS = {
    "batch per worker": 64,
    "compute per step, this machine's core (ms)": {"lenet": 70, "resnet": 250},
    "GPU-class worker: compute divided by": 20,
    "DL4J parameter averaging: every K steps": 5,
    "averaging: bytes per worker per round (parameters + Adam's two moments)": "3 M",
    "averaging: Spark's own cost per round (s, from the loopback runs)": 0.16,
    "servers (byteps, extra hosts)": "as many CPU-only hosts as workers, each on its own link",
}


def project(model, compute_ms, n, gbit, c):
    """examples/s of n workers for each design, on links of gbit each way and a 0.1 ms round trip."""
    b, rtt, m = gbit * 1e9 / 8, 0.1e-3, MODEL_BYTES[model]
    cpt = compute_ms / 1e3
    v = m / 4  # float32 values
    colocated = rtt + 2 * m * (n - 1) / (n * b) + c[0] * 4 * v
    extra_servers = rtt + m / b + c[0] * 2 * v  # a worker sends M and receives M; n server hosts take M each
    ring = (n - 1) * rtt + 2 * m * (n - 1) / (n * b) + c[0] * 2 * v  # reduce-scatter + all-gather, 2(N-1) hops
    k = ASSUMPTIONS["DL4J parameter averaging: every K steps"]
    averaging = (3 * m * n / b + 3 * m / b * max(1, n.bit_length()) + ASSUMPTIONS["averaging: Spark's own cost per round (s, from the loopback runs)"]) / k
    batch = ASSUMPTIONS["batch per worker"]
    return {name: n * batch / (cpt + x) for name, x in
            [("byteps colocated", colocated), ("byteps + server hosts", extra_servers), ("ring all-reduce", ring), ("parameter averaging", averaging)]}


def main(paths):
    rows = rows_of(paths)
    if not rows:
        sys.exit("no byteps rows with an exchange time in " + ", ".join(paths))
    c = fit(rows)
    print(f"fitted: c = {c[0] * 1e9:.1f} ns per float32 value handled (encode, decode, add: {4 / c[0] / 1e6:.0f} MB/s of float32 per host);"
          f" an fp16 value costs {c[1]:.1f}x that (conversion)\n")
    print("| hosts | tasks per host | link | model | trainer | pushers | measured push/pull ms | model ms | error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        p = predicted_exchange_ms(r, c)
        print(f"| {r['k']} | {r['per_host']} | {r['link']} | {r['model']} | {r['trainer']} | {r.get('pushers') or r['workers']} | "
              f"{float(r['push_pull_ms']):.1f} | {p:.1f} | {100 * (p / float(r['push_pull_ms']) - 1):+.0f}% |")
    print("\nassumptions:", ASSUMPTIONS)
    for model in ("lenet", "resnet"):
        for speed, div in (("this machine's core", 1), ("GPU-class (compute / 20)", ASSUMPTIONS["GPU-class worker: compute divided by"])):
            compute = ASSUMPTIONS["compute per step, this machine's core (ms)"][model] / div
            print(f"\n{model}, {speed}: compute {compute:.1f} ms per step; examples/s (and per worker)")
            print("| workers | link | byteps colocated | byteps + server hosts | ring all-reduce | parameter averaging |")
            print("| --- | --- | --- | --- | --- | --- |")
            for gbit in (10, 25):
                for n in (8, 16, 32, 64, 128, 256):
                    e = project(model, compute, n, gbit, c)
                    cells = " | ".join(f"{v:,.0f} ({v / n:,.0f})" for v in e.values())
                    print(f"| {n} | {gbit} Gbit | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1:])
