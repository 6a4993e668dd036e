"""The measurements of one data set once every server serves it: every case (query mix x
transport) over several rounds that alternate the servers, with stsd's answers sampled
under load; the run with a rotation and a confirmation mid-load; and instructions per
query under callgrind."""
from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import threading
import time

import dnsdata
from benchlib.checks import Sampler
from benchlib.dnsperf import RunResult, hist_stats, run_dnsperf
from benchlib.machine import SOURCE_DIR, log
from benchlib.processes import HOST


def run_cases(args, count: int, servers: list, files: dict, mixes: list[str], transports: list[str],
              rounds: int, report: dict, rng: random.Random) -> None:
    """report["cases"][(count, mix, transport)] = {server name: [RunResult per round]}.
    The servers alternate within a round and the round's order rotates, so drifting
    background load hits all of them alike."""
    for mix in mixes:
        for transport in transports:
            case = (count, mix, transport)
            runs = {s.name: [] for s in servers}
            for rnd in range(rounds):
                order = servers[rnd % len(servers):] + servers[: rnd % len(servers)]
                for s in order:
                    sampler = None
                    if not s.peer:
                        sampler = Sampler(s.port, count, rng)
                        sampler.start()
                    r = run_dnsperf(s, files[mix], transport, args.duration, args)
                    if sampler:
                        sampler.stop()
                        report["samples"].append((case, sampler.checked, sampler.failures))
                    runs[s.name].append(r)
                    _, p99 = hist_stats(r.latency_hist)
                    log(f"{count} {mix} {transport} round {rnd + 1} {s.name}: {r.qps:,.0f} QPS, "
                        f"{r.per_cpu_s:,.0f} per CPU-s, p99 {p99 * 1e3:.2f} ms, "
                        f"lost {r.lost}, rcodes {dict(r.rcodes)}, load {r.load:.1f}")
            report["cases"][case] = runs


def run_latency(args, count: int, servers: list, files: dict, mixes: list[str], report: dict) -> None:
    """report["latency"][(count, mix, "udp")] = {server name: RunResult}: one UDP run per
    server at the same offered rate (args.latency_qps, below every server's saturation).
    The p99 of the saturated runs is each server's queue at its own maximum rate, with the
    load generator on the same two cores; at the same offered load the p99 compares the
    servers' answering, which is what a resolver waiting on them sees."""
    if not args.latency_qps:
        return
    for mix in mixes:
        case = (count, mix, "udp")
        runs = {}
        for s in servers:
            r = run_dnsperf(s, files[mix], "udp", args.duration, args, rate=args.latency_qps)
            runs[s.name] = r
            _, p99 = hist_stats(r.latency_hist)
            log(f"{count} {mix} udp at {args.latency_qps:,} QPS offered {s.name}: {r.qps:,.0f} QPS, "
                f"p99 {p99 * 1e3:.3f} ms, lost {r.lost}, {r.cpu_s:.2f} CPU-s, load {r.load:.1f}")
        report["latency"][case] = runs


def next_boundary(domain: str, now: float, rotation_s: int = 86400) -> int:
    """The Unix time at which `domain`'s id next rotates. Every domain rotates at its own
    offset inside the rotation (default one day), as src/store/policy_id.h specifies:
    offset = the first 4 bytes of SHA-256(lowercase domain) as a big-endian number, modulo
    the rotation; periods are [k * rotation + offset, (k + 1) * rotation + offset). Moving
    the clock back and forth to find it would not do: a served id never goes back."""
    offset = int.from_bytes(hashlib.sha256(domain.lower().encode()).digest()[:4], "big") % rotation_s
    return (int(now) - offset) // rotation_s * rotation_s + rotation_s + offset


def change_run(stsd, files: dict, args, baseline: list[RunResult]) -> dict:
    """One UDP all-hits run during which the id of domain 1 rotates (the store's clock is
    moved so that its period boundary falls mid-run) and a new policy is staged and
    confirmed for domain 0."""
    now = time.time()
    stsd.set_clock_offset(int(next_boundary(dnsdata.domain(1), now) - now - args.duration / 2))
    time.sleep(0.3)                                        # the clock re-reads the file every 100 ms
    domain = dnsdata.domain(0)
    events = []

    def change():
        time.sleep(args.duration / 4)
        r = stsd.stsctl("policy", "stage", domain, "--mode", "testing", "--mx", f"mx1.{domain}",
                        "--max-age", "604800", timeout_s=30)
        events.append(("stage", r.returncode, r.stdout.strip()[-200:] + r.stderr.strip()[-200:]))
        m = re.search(r"version (\d+)", r.stdout)   # "staged <domain> version N"
        if r.returncode == 0 and m:
            r = stsd.stsctl("policy", "confirm", domain, "--version", m.group(1), "--reason", "bench", timeout_s=30)
            events.append(("confirm", r.returncode, r.stdout.strip()[-200:] + r.stderr.strip()[-200:]))

    before = dnsdata.served_id(dnsdata.query(HOST, stsd.port, dnsdata.owner(1)))
    worker = threading.Thread(target=change, daemon=True)
    worker.start()
    result = run_dnsperf(stsd, files["hit"], "udp", args.duration, args)
    worker.join(60)
    after = dnsdata.served_id(dnsdata.query(HOST, stsd.port, dnsdata.owner(1)))
    changed0 = dnsdata.served_id(dnsdata.query(HOST, stsd.port, dnsdata.owner(0)))
    stsd.set_clock_offset(0)
    return {"result": result, "baseline": baseline, "events": events,
            "rotated": (before, after), "domain0_id": changed0}


CALLGRIND_SERVERS = ("stsd", "knot", "nsd")   # what bench/callgrind.sh server can run


def callgrind_figures(args, count: int, names: list[str]) -> dict:
    """User-space instructions per query of each server (bench/callgrind.sh server), on the
    data the run left behind: a figure that background load does not move."""
    figures = {}
    script = os.path.join(SOURCE_DIR, "bench", "callgrind.sh")
    for name in names:
        if name not in CALLGRIND_SERVERS:
            continue
        log(f"{name}: counting instructions per query under callgrind ({args.callgrind_queries} queries)")
        env = dict(os.environ, STSD_BENCH_BUILD=os.path.abspath(args.build_dir))
        try:
            done = subprocess.run([script, "server", "--server", name, "--domains", str(count),
                                   "--queries", str(args.callgrind_queries)],
                                  capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            figures[name] = None
            continue
        m = re.search(r"instructions per query: (\d+)", done.stdout)
        figures[name] = int(m.group(1)) if m else None
        if not m:
            log(f"{name}: callgrind gave no figure: {done.stderr.strip()[-500:]}")
    return {"count": count, "figures": figures}
