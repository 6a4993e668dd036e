"""The results file of bench/harness.py: what was measured and how, the figures of every
server side by side with their ratios to the best peer, and every target met or not."""
from __future__ import annotations

import os
import platform

from benchlib import targets
from benchlib.dnsperf import merged_latency
from benchlib.machine import cpu_model, memory_total_gib


def ratio(value, best) -> str:
    if value is None or best is None or best == 0 or value != value:
        return "–"
    return f"{value / best:.2f}"


def render(report: dict, args) -> str:
    summary = targets.summarize_cases(report)
    lines = _header(report, args)
    lines += _imports(report)
    lines += _startup(report)
    lines += _throughput(report, summary)
    lines += _same_load(report, args)
    lines += _change(report)
    lines += _callgrind(report, args)
    lines += _correctness(report, args)
    if args.with_stsd:
        lines += _targets(report, summary)
    return "\n".join(lines)


def _header(report: dict, args) -> list[str]:
    label = "" if args.with_stsd else " — PEERS ONLY (stsd not measured: " + report["no_stsd_reason"] + ")"
    lines = [f"# stsd benchmark {report['date']:%Y-%m-%d %H:%M} UTC{label}\n"]
    lines.append(f"- Command: `bench/run.sh {' '.join(report['argv'])}`".rstrip() + f" at commit {report['commit']}; "
                 f"the run took {report['elapsed_s'] / 60:.1f} min.")
    lines.append(f"- Machine: {os.cpu_count()} cores ({cpu_model()}), {memory_total_gib():.0f} GiB RAM, "
                 f"{platform.release()}; dnsperf on the same machine over loopback.")
    lines.append("- Servers: " + "; ".join(f"{k}: {v}" for k, v in report["servers"].items()))
    for name, spec in report["variants"].items():
        lines.append(f"- Variant `{name}`: stsd with {spec}, on a copy of the same store, measured beside the others.")
    lines.append(f"- Each server: {args.workers} workers (Knot: udp-workers/tcp-workers {args.workers}, "
                 f"NSD: server-count {args.workers} with reuseport, stsd: workers {args.workers}).")
    tcp_mode = (f"{args.tcp_queries_per_conn} queries per connection" if args.tcp_queries_per_conn
                else "persistent connections (many queries each)")
    lines.append(f"- Load: dnsperf -e -c {args.clients} -q {args.outstanding} -l {args.duration} -v, "
                 f"{args.rounds} round(s) per case alternating the servers; TCP: {tcp_mode}.")
    large = [c for c in args.sizes if c >= args.large_from]
    if large:
        lines.append(f"- From {args.large_from:,} domains: peers {', '.join(args.large_peers) or 'none'}, "
                     f"UDP only, {args.large_rounds} round(s) per case, no rotation run"
                     + ("" if "nsd" in args.large_peers else " (NSD left out: loading it too costs minutes of "
                        "the run's time and ~7 GiB; Knot is the peer the issue asks for)") + ".")
    lines.append("- QPS: median over rounds. QPS/CPU-s: answers completed ÷ server CPU seconds "
                 "(utime+stime of the server's process tree, /proc/<pid>/stat). Latency: from dnsperf -v "
                 "per-response lines, all rounds merged. ×peer: ratio to the best peer "
                 "(higher is better for QPS, lower for latency, memory, start-up).")
    loads = report["loads"]
    if loads:
        mean = sum(loads) / len(loads)
        lines.append(f"- Load average during runs: mean {mean:.2f}, min {min(loads):.2f}, "
                     f"max {max(loads):.2f} (other work on the machine inflates latency and lowers QPS; "
                     "QPS/CPU-s is the robust figure).")
        if mean > 0.75 * (os.cpu_count() or 1) + 2:
            lines.append(f"- **The machine was busy** (mean load {mean:.1f} on {os.cpu_count()} cores, the bench "
                         "itself keeps about 2 busy): the servers got a share of the CPU that changed from run "
                         "to run, so these figures check the harness rather than measure the servers; a server "
                         "that gets less CPU answers more queries per wake-up, which flatters QPS/CPU-s. Repeat "
                         "on a quiet machine before quoting them.")
    lines.append("")
    return lines


def _imports(report: dict) -> list[str]:
    if not report["imports"]:
        return []
    lines = ["## Import\n",
             "| domains | CSV (MiB) | wall (s) | domains/s | stsd CPU (s) | stsctl CPU (s) | stsd peak RSS (MiB) "
             "| stsd RSS serving after restart (MiB) | stsctl peak RSS (MiB) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for count, f in sorted(report["imports"].items()):
        serving = f.serving_rss_mib
        if f.wall_s is None:
            lines.append(f"| {count:,} | {f.file_mib:.0f} | {f.failure} | | {f.stsd_cpu_s:.1f} | | "
                         f"{f.stsd_peak_rss_mib:.0f} | | |")
            continue
        lines.append(f"| {count:,} | {f.file_mib:.0f} | {f.wall_s:.1f} | {f.rate:,.0f} | {f.stsd_cpu_s:.1f} | "
                     f"{f.stsctl_cpu_s:.1f} | {f.stsd_peak_rss_mib:.0f} | "
                     f"{'–' if serving is None else f'{serving:.0f}'} | {f.stsctl_peak_rss_mib:.0f} |")
    lines.append("\n`stsctl import FILE --confirm-now --reason bench` into an empty store of a running stsd, "
                 "timed from "
                 "stsctl's exec to its exit (its check pass and its apply pass). stsd CPU: utime+stime of stsd over "
                 "the import; stsd peak RSS: its VmHWM (it started empty just before), beside its RSS once "
                 "restarted on the imported store (the import's extra memory is the difference); stsctl: CPU "
                 "seconds (wait4) and peak RSS (VmHWM as it exits) of that process alone. Sizes without a "
                 "served data set are import-only runs (`--import-sizes`: imported, restarted once for the "
                 "RSS, not queried).\n")
    return lines


def _startup(report: dict) -> list[str]:
    lines = ["## Start-up and memory\n",
             "| domains | server | start → first answer (s) | ×peer | memory after load, PSS (MiB) | ×peer "
             "| VmRSS main process (MiB) | peak RSS while loading (MiB) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for count, entries in report["startup"].items():
        peers = {n: v for n, v in entries.items() if n in report["peer_names"]}
        best_load = min((v.load_s for v in peers.values()), default=None)
        best_mem = min((v.pss_mib for v in peers.values()), default=None)
        for name, v in entries.items():
            lines.append(f"| {count:,} | {name} | {v.load_s:.2f} | {ratio(v.load_s, best_load)} | {v.pss_mib:,.0f} | "
                         f"{ratio(v.pss_mib, best_mem)} | {v.rss_mib:,.0f} | {v.peak_rss_mib:,.0f} |")
    for count, failures in report["peer_failures"].items():
        for name, f in failures.items():
            lines.append(f"\n- {count:,}: **{name} not measured**: {f.why}; stopped after {f.elapsed_s:.0f} s with "
                         f"RSS {f.rss_mib:,.0f} MiB (peak {f.peak_rss_mib:,.0f} MiB).")
    lines.append("\nMemory is the PSS summed over the server's process tree (/proc/<pid>/smaps_rollup), "
                 "read 1 s after the first answer: for a single process it is its RSS less its share of "
                 "shared libraries; NSD's forked servers share the zone's pages, which a sum of their RSS "
                 "would count several times. Peak RSS: VmHWM of the main process (a zone parser's buffers "
                 "freed before the first answer show here). Start-up: exec to the first NOERROR answer for the "
                 "last name loaded (stsd: from the populated store; peers: from the zone file).\n")
    return lines


def _throughput(report: dict, summary: dict) -> list[str]:
    lines = ["## Throughput and latency\n",
             "| domains | mix | transport | server | QPS | ×peer | QPS/CPU-s | ×peer | avg ms | p99 ms | p99 ×peer "
             "| lost |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (count, mix, transport), (stats, best_eff, best_p99) in summary.items():
        peers = {n: v for n, v in stats.items() if n in report["peer_names"]}
        best_qps = max((v.qps for v in peers.values()), default=None)
        for name, s in stats.items():
            lines.append(f"| {count:,} | {targets._mix(mix)} | {transport.upper()} | {name} | {s.qps:,.0f} | "
                         f"{ratio(s.qps, best_qps)} | {s.per_cpu_s:,.0f} | {ratio(s.per_cpu_s, best_eff)} | "
                         f"{s.avg_s * 1e3:.3f} | {s.p99_s * 1e3:.3f} | {ratio(s.p99_s, best_p99)} | {s.lost} |")
    lines.append("")
    return lines


def _same_load(report: dict, args) -> list[str]:
    if not report["latency"]:
        return []
    lines = [f"## UDP latency at the same offered load ({args.latency_qps:,} QPS, dnsperf -Q)\n",
             "Every server is offered the same rate, below each one's saturation, for one run of "
             f"{args.duration} s per mix: the p99 compares how each answers, not how long a queue it "
             "builds at its own maximum rate (the table above).\n",
             "| domains | mix | server | QPS | avg ms | p99 ms | p99 ×peer | CPU-s | lost |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for (count, mix, _), runs in report["latency"].items():
        figures = {name: merged_latency([r]) for name, r in runs.items()}
        best = min((p99 for name, (_, p99) in figures.items() if name in report["peer_names"]), default=None)
        for name, r in runs.items():
            avg, p99 = figures[name]
            lines.append(f"| {count:,} | {targets._mix(mix)} | {name} | {r.qps:,.0f} | {avg * 1e3:.3f} | "
                         f"{p99 * 1e3:.3f} | {ratio(p99, best)} | {r.cpu_s:.2f} | {r.lost} |")
    lines.append("")
    return lines


def _change(report: dict) -> list[str]:
    if not report["change"]:
        return []
    lines = ["## Rotation and confirmation during load (stsd, UDP, all hits)\n",
             "| domains | run | QPS | p99 ms | lost | what happened |",
             "|---:|---|---:|---:|---:|---|"]
    for count, ch in report["change"].items():
        base = ch["baseline"]
        _, p99b = merged_latency(base)
        lines.append(f"| {count:,} | plain (rounds above) | {targets.case_figures(base).qps:,.0f} | "
                     f"{p99b * 1e3:.3f} | {sum(r.lost for r in base)} | |")
        r = ch["result"]
        _, p99c = merged_latency([r])
        ev = ", ".join(f"{k} exit {rc}" for k, rc, _ in ch["events"]) or "no change made"
        before, after = ch["rotated"]
        lines.append(f"| {count:,} | with rotation + confirm | {r.qps:,.0f} | {p99c * 1e3:.3f} | {r.lost} | "
                     f"id {before} → {after}; {ev} |")
    lines.append("")
    return lines


def _callgrind(report: dict, args) -> list[str]:
    cg = report.get("callgrind")
    if not cg:
        return []
    figures = cg["figures"]
    best = min((v for n, v in figures.items() if n in report["peer_names"] and v), default=None)
    lines = [f"## Instructions per query (callgrind, {cg['count']:,} domains, UDP, all hits)\n",
             "User-space instructions of the whole server (every thread and forked process: event "
             "loop, socket calls, lookup, encoding) divided by the answers, from `bench/callgrind.sh "
             f"server` ({args.callgrind_queries} queries at 2,000 QPS). Kernel time is not included: "
             "a server making more system calls per query loses more than this shows.\n",
             "| server | instructions per query | ×peer |", "|---|---:|---:|"]
    for name, value in figures.items():
        lines.append(f"| {name} | {'–' if value is None else f'{value:,}'} | {ratio(value, best)} |")
    lines.append("")
    return lines


def _correctness(report: dict, args) -> list[str]:
    lines = ["## Correctness\n"]
    total = sum(c for _, c, _ in report["samples"])
    failures = [f for _, _, fs in report["samples"] for f in fs]
    if report["samples"]:
        lines.append(f"- stsd under load: {total} sampled answers checked (NOERROR+AA+one `v=STSv1; id=…;` TXT with "
                     f"id [A-Za-z0-9]{{1,32}}, or NXDOMAIN+AA): {len(failures)} failed.")
        lines += [f"  - {f}" for f in failures[:10]]
    for count, diffs in report["differences"].items():
        lines.append(f"- {count:,} domains, same 50 questions to every server (rcode, AA, answer, size): "
                     f"{len(diffs)} differences.")
        lines += [f"  - {d}" for d in diffs[:5]]
    for count, problem in report["size_failures"].items():
        lines.append(f"- {count:,} domains: **stsd not measured**: {problem}")
    lines.append("")
    return lines


def _targets(report: dict, summary: dict) -> list[str]:
    verdicts = targets.all_verdicts(report, summary)
    every = [v for vs in verdicts.values() for v in vs]
    counts = {s: sum(1 for v in every if v.status == s) for s in ("met", "NOT met", "not measured")}
    lines = ["## Targets (issue 15)\n",
             f"{counts['met']} met, {counts['NOT met']} not met, {counts['not measured']} not measured in this run. "
             f"Regressions are judged against `{os.path.basename(report['baseline']['path'])}` "
             f"(memory: VmRSS of stsd, a single process, ≤ +{(targets.MEMORY_REGRESSION[0] - 1) * 100:.0f} % + "
             f"{targets.MEMORY_REGRESSION[1]:.0f} MiB, as its PSS moves with whatever else maps the same libraries; "
             f"start-up: ≤ +{(targets.STARTUP_REGRESSION[0] - 1) * 100:.0f} % + "
             f"{targets.STARTUP_REGRESSION[1]:.1f} s; "
             f"TCP ×peer: ≥ {targets.TCP_REGRESSION:.2f}× the earlier ratio). Import memory counts as bounded when, "
             f"between the smallest and the largest import of {2 * targets.STSCTL_REQUEST_ROWS:,} rows or more "
             f"(full requests of {targets.STSCTL_REQUEST_ROWS:,}: memory follows the request), stsctl's peak RSS at "
             "most doubles (+16 MiB), and so does stsd's peak above its serving RSS (+64 MiB).\n"]
    for title, vs in verdicts.items():
        lines.append(f"### {title}\n")
        if not vs:
            lines.append("- not measured in this run")
        for v in vs:
            lines.append(f"- {v.what}: {v.figure} — **{v.status}**")
        lines.append("")
    return lines
