"""One bounded dnsperf run against one server, and its figures: QPS, answers, lost
queries, the server's CPU seconds over the run, and a latency histogram from dnsperf -v
(one line per response; dnsperf 2.10 has no histogram option)."""
from __future__ import annotations

import collections
import os
import subprocess

from benchlib import processes
from benchlib.machine import loadavg
from benchlib.processes import HOST


class RunResult:
    def __init__(self):
        self.qps = 0.0
        self.sent = 0
        self.completed = 0
        self.lost = 0
        self.cpu_s = 0.0
        self.latency_hist: collections.Counter = collections.Counter()   # seconds text -> count
        self.rcodes: collections.Counter = collections.Counter()
        self.load = 0.0

    @property
    def per_cpu_s(self) -> float:
        return self.completed / self.cpu_s if self.cpu_s > 0 else float("nan")


def run_dnsperf(server, query_file: str, transport: str, duration: int, args,
                edns_option: str | None = None, timeout_s: float = 2, outstanding: int | None = None,
                rate: int | None = None) -> RunResult:
    """`edns_option`: dnsperf -E CODE:HEX, sent in every query (e.g. a DNS cookie);
    `timeout_s`: when a query counts as lost, and `outstanding` (default args.outstanding):
    a server that drops on purpose needs a short timeout and many queries in flight;
    `rate`: queries per second offered (dnsperf -Q) instead of as many as answered."""
    scratch = "/dev/shm" if os.path.isdir("/dev/shm") else args.work
    out_path = os.path.join(scratch, f"stsd-bench-{os.getpid()}-dnsperf.out")
    cmd = ["dnsperf", "-s", HOST, "-p", str(server.port), "-d", query_file, "-l", str(duration),
           "-e", "-c", str(args.clients), "-q", str(outstanding or args.outstanding), "-t", f"{timeout_s:g}", "-v"]
    if edns_option:
        cmd += ["-E", edns_option]
    if rate:
        cmd += ["-Q", str(rate)]
    if transport == "tcp":
        cmd += ["-m", "tcp"]
        if args.tcp_queries_per_conn:
            cmd += ["-O", f"num-queries-per-conn={args.tcp_queries_per_conn}"]
    result = RunResult()
    result.load = loadavg()
    cpu_before = server.cpu()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        processes._started.append(proc)
        try:
            proc.wait(duration + 30)
        except subprocess.TimeoutExpired:
            pass
        processes.stop_process(proc)
    result.cpu_s = server.cpu() - cpu_before
    try:
        _read_output(out_path, result)
    finally:
        os.unlink(out_path)
    if result.completed == 0:
        raise RuntimeError(f"dnsperf got no answers from {server.name}: {' '.join(cmd)}")
    return result


def _read_output(path: str, result: RunResult) -> None:
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"> "):
                parts = line.split()
                result.rcodes[parts[1].decode()] += 1
                if len(parts) >= 5:
                    result.latency_hist[parts[-1].decode()] += 1
            elif b"Queries sent:" in line:
                result.sent = int(line.split()[2])
            elif b"Queries completed:" in line:
                result.completed = int(line.split()[2])
            elif b"Queries lost:" in line:
                result.lost = int(line.split()[2])
            elif b"Queries per second:" in line:
                result.qps = float(line.split()[3])


def hist_stats(hist: collections.Counter) -> tuple[float, float]:
    """(average, 99th percentile) latency in seconds from a value -> count histogram."""
    values = sorted((float(k), n) for k, n in hist.items())
    total = sum(n for _, n in values)
    if not total:
        return float("nan"), float("nan")
    avg = sum(v * n for v, n in values) / total
    rank, seen = 0.99 * total, 0
    for v, n in values:
        seen += n
        if seen >= rank:
            return avg, v
    return avg, values[-1][0]


def merged_latency(runs: list[RunResult]) -> tuple[float, float]:
    """(average, p99) over every response of several runs."""
    hist = collections.Counter()
    for r in runs:
        hist.update(r.latency_hist)
    return hist_stats(hist)
