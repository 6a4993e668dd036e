#!/usr/bin/env python3
"""UDP side by side: stsd variants (binaries and `udp.io` settings) against Knot and NSD,
in alternating rounds, for bench/results/2026-11-30-udp-experiments.md.

Reuses bench/harness.py (servers, data, dnsperf, CPU accounting) and adds what the UDP
experiments need: user and system CPU apart, and deterministic counts from a separate
counting run per server (system calls, context switches and migrations per answer, with
`perf stat`), which do not depend on how busy the shared machine is.

  bench/udp/compare.py --build-dir build/release \\
      --stsd uring=build/release/bin:io_uring --stsd mmsg=build/release/bin:recvmmsg
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import harness  # noqa: E402  (bench/harness.py)
import collections  # noqa: E402
from benchlib.dnsperf import hist_stats  # noqa: E402
from benchlib.processes import process_tree  # noqa: E402
from benchlib.servers import Knot, Nsd  # noqa: E402
import dnsdata  # noqa: E402


def cpu_exact(pid: int) -> float:
    """CPU seconds of every thread of the process tree from the scheduler's own account
    (/proc/PID/task/TID/schedstat, nanoseconds), where utime+stime are sampled at each
    tick and stray by tens of percent on this busy shared machine."""
    ns = 0
    for p in process_tree(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    ns += int(f.read().split()[0])
        except OSError:
            pass
    return ns / 1e9


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) seconds, all threads, over the process tree."""
    user = system = 0
    for p in process_tree(pid):
        fields = harness._stat_fields(p)
        if fields:
            user += int(fields[11])
            system += int(fields[12])
    return user / harness.CLK_TCK, system / harness.CLK_TCK


class Variant(harness.Stsd):
    """An stsd binary with a `udp.io` setting, serving the store that `load_stsd` filled."""

    def __init__(self, label: str, bin_dir: str, udp_io: str, port: int, workdir: str, workers: int,
                 extra_env: dict | None = None):
        self.extra_env = extra_env or {}
        # "-": a binary older than the `udp` key (the baseline).
        # "io_uring,burst_datagrams=16,burst_wait_us=100" -> udp: { io: io_uring, burst_datagrams: 16, ... }
        io, *more = udp_io.split(",")
        keys = "".join(f", {k}: {v}" for k, v in (m.split("=", 1) for m in more))
        top = "" if udp_io == "-" else f"udp: {{ io: {io}{keys} }}\n"
        super().__init__(port, workdir, workers, os.path.abspath(bin_dir), top_yaml=top)
        self.name = f"stsd-{label}"

    def env(self):
        env = super().env()
        env.update(self.extra_env)
        return env

    def cpu(self) -> float:
        return cpu_exact(self.proc.pid)


class ExactKnot(Knot):
    def cpu(self) -> float:
        return cpu_exact(self.proc.pid)


class ExactNsd(Nsd):
    def cpu(self) -> float:
        return cpu_exact(self.proc.pid)


def run_dnsperf(server, query_file: str, args) -> "harness.RunResult":
    """harness.run_dnsperf, or with --rate a fixed offered load (dnsperf -Q), at which
    every server faces the same arrivals and CPU per answer compares like with like."""
    if not args.rate:
        return harness.run_dnsperf(server, query_file, "udp", args.duration, args)
    real_popen = subprocess.Popen

    def popen(cmd, *a, **kw):
        if cmd and cmd[0] == "dnsperf":
            cmd = cmd + ["-Q", str(args.rate)]
        return real_popen(cmd, *a, **kw)

    subprocess.Popen = popen
    try:
        return harness.run_dnsperf(server, query_file, "udp", args.duration, args)
    finally:
        subprocess.Popen = real_popen


def counting_run(server, query_file: str, args) -> dict:
    """One dnsperf run under `perf stat` (tracepoints slow every call, so its QPS is not
    used): system calls, context switches and CPU migrations per answer."""
    pids = process_tree(server.proc.pid)
    out = os.path.join(args.work, f"perf-{server.name}.csv")
    perf = subprocess.Popen(["perf", "stat", "-x,", "-o", out, "-e",
                             "raw_syscalls:sys_enter,context-switches,cpu-migrations,task-clock",
                             "-p", ",".join(map(str, pids))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    user0, sys0 = cpu_split(server.proc.pid)
    r = run_dnsperf(server, query_file, args)
    user1, sys1 = cpu_split(server.proc.pid)
    perf.send_signal(2)
    perf.wait(10)
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0].replace(".", "").isdigit():
                counts[parts[2]] = float(parts[0])
    n = max(r.completed, 1)
    return {"syscalls": counts.get("raw_syscalls:sys_enter", 0) / n,
            "cs": counts.get("context-switches", 0) / n, "task_us": counts.get("task-clock", 0) * 1e3 / n,
            "migrations": counts.get("cpu-migrations", 0) / n,
            "user_us": (user1 - user0) / n * 1e6, "sys_us": (sys1 - sys0) / n * 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="the build whose stsctl imports the data")
    ap.add_argument("--stsd", action="append", required=True,
                    help="LABEL=BIN_DIR:IO[,KEY=VALUE...][:ENV=VALUE,...] (repeatable): stsd's udp.io and more udp "
                         "keys, and environment; IO '-': a binary without the udp key (an older baseline)")
    ap.add_argument("--peers", default="knot,nsd")
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--mix", default="hit", choices=["hit", "nx10"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--outstanding", type=int, default=200)
    ap.add_argument("--rate", type=int, default=0, help="dnsperf -Q: a fixed offered load (default: as fast as served)")
    ap.add_argument("--no-counts", dest="counts", action="store_false")
    ap.add_argument("--reuse-store", action="store_true", help="serve the store and zone an earlier run imported")
    ap.add_argument("--work", help="default BUILD/bench-work")
    ap.add_argument("--port-base", type=int, default=5400)
    ap.add_argument("--start-timeout", type=float, default=300)
    args = ap.parse_args()
    args.tcp_queries_per_conn = 0
    args.work = os.path.abspath(args.work or os.path.join(args.build_dir, "bench-work"))
    args.bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    dnsdata.ensure_dir(args.work)

    files = harness.prepare_data(args, args.size)
    loader = harness.Stsd(args.port_base, os.path.join(args.work, f"udp-stsd-{args.size}"), args.workers,
                          args.bin_dir)
    if args.reuse_store and os.path.isdir(os.path.join(loader.workdir, "stsd.db")) and os.path.exists(files["zone"]):
        ids = None  # the store and the peers' zone of an earlier run
    else:
        ids = harness.load_stsd(loader, files, args.size, args)
        loader.stop()
    servers = []
    for k, spec in enumerate(args.stsd):
        label, rest = spec.split("=", 1)
        bin_dir, udp_io, *env = rest.split(":")
        extra_env = dict(e.split("=", 1) for e in env[0].split(",")) if env else {}
        v = Variant(label, bin_dir, udp_io, args.port_base + 10 + k, loader.workdir, args.workers, extra_env)
        servers.append(v)
    if ids is not None:
        dnsdata.write_peer_zone(files["zone"], ids)
    for cls, port in ((ExactKnot, args.port_base + 1), (ExactNsd, args.port_base + 2)):
        if cls.name in args.peers.split(","):
            peer = cls(port, os.path.join(args.work, f"udp-{cls.name}-{args.size}"), args.workers)
            peer.prepare(files["zone"])
            peer.start(dnsdata.owner(args.size - 1), timeout_s=args.start_timeout)
            servers.append(peer)
    probe = dnsdata.owner(args.size - 1)
    runs = {s.name: [] for s in servers}
    splits = {s.name: [] for s in servers}
    for rnd in range(args.rounds):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for s in order:
            if isinstance(s, Variant):  # the variants share one store: one runs at a time
                s.write_config()
                s.start(probe, timeout_s=args.start_timeout)
            u0, s0 = cpu_split(s.proc.pid)
            r = run_dnsperf(s, files[args.mix], args)
            u1, s1 = cpu_split(s.proc.pid)
            runs[s.name].append(r)
            splits[s.name].append((u1 - u0, s1 - s0))
            _, p99 = hist_stats(r.latency_hist)
            harness.log(f"round {rnd + 1} {s.name}: {r.qps:,.0f} QPS, {r.completed / max(r.cpu_s, 1e-9):,.0f} "
                        f"per CPU-s (user {u1 - u0:.1f} s, sys {s1 - s0:.1f} s), p99 {p99 * 1e3:.2f} ms, "
                        f"lost {r.lost}, load {r.load:.1f}")
            if isinstance(s, Variant):
                s.stop()
    counts = {}
    if args.counts:
        for s in servers:
            if isinstance(s, Variant):
                s.write_config()
                s.start(probe, timeout_s=args.start_timeout)
            counts[s.name] = counting_run(s, files[args.mix], args)
            if isinstance(s, Variant):
                s.stop()
    for s in servers:
        s.stop()

    best_peer = max((statistics.median(r.completed / max(r.cpu_s, 1e-9) for r in runs[s.name])
                     for s in servers if not isinstance(s, Variant)), default=None)
    print(f"\n{args.size:,} domains, {args.mix}, UDP, {args.rounds} rounds of {args.duration} s, "
          f"dnsperf -c {args.clients} -q {args.outstanding}{f' -Q {args.rate}' if args.rate else ''}, "
          f"workers {args.workers}\n")
    print("| server | QPS | QPS/CPU-s | ×best peer | user % | p99 ms | lost | syscalls/q | cs/q | "
          "migr/q | user µs/q | sys µs/q | CPU µs/q | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        rs = runs[s.name]
        per_cpu = statistics.median(r.completed / max(r.cpu_s, 1e-9) for r in rs)
        user = sum(u for u, _ in splits[s.name])
        total = sum(u + k for u, k in splits[s.name])
        hist = sum((r.latency_hist for r in rs), start=collections.Counter())
        _, p99 = hist_stats(hist)
        c = counts.get(s.name, {})
        ratio = f"{per_cpu / best_peer:.2f}" if best_peer else ""
        print(f"| {s.name} | {statistics.median(r.qps for r in rs):,.0f} | {per_cpu:,.0f} | {ratio} | "
              f"{100 * user / max(total, 1e-9):.0f} | {p99 * 1e3:.2f} | {sum(r.lost for r in rs)} | "
              f"{c.get('syscalls', float('nan')):.3f} | {c.get('cs', float('nan')):.3f} | "
              f"{c.get('migrations', float('nan')):.4f} | {c.get('user_us', float('nan')):.2f} | "
              f"{c.get('sys_us', float('nan')):.2f} | {c.get('task_us', float('nan')):.2f} | "
              f"{statistics.mean(r.load for r in rs):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
