"""The targets a run is judged against, each listed as met, NOT met or not measured:
issue 15 (import, UDP per CPU-second, 10M domains), issue 6's TCP, memory and start-up
targets, and no regression against an earlier results file (bench/results/2026-11-29.md
by default: its start-up, memory and TCP figures)."""
from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass

from benchlib.dnsperf import merged_latency

UDP_TARGET = 1.5        # issue 15: QPS per server CPU-second against the best peer
TCP_TARGET = 1.2        # issue 6
IMPORT_1M_TARGET_S = 10.0
PSS_10M_TARGET_MIB = 1.2 * 1024
STARTUP_10M_TARGET_S = 10.0
MEMORY_REGRESSION = (1.10, 2.0)      # VmRSS may grow by 10 % + 2 MiB before it counts as a regression
STARTUP_REGRESSION = (1.25, 0.10)    # start-up: 25 % + 0.1 s (a timing, noisier than memory)
TCP_REGRESSION = 0.90                # ×peer per CPU-s may drop 10 % (one run's noise) before it counts


@dataclass
class Verdict:
    what: str
    figure: str
    status: str    # "met", "NOT met", "not measured"


def status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


@dataclass
class CaseFigures:
    qps: float
    per_cpu_s: float
    avg_s: float
    p99_s: float
    lost: int


def case_figures(runs: list) -> CaseFigures:
    avg, p99 = merged_latency(runs)
    cpu_s = sum(r.cpu_s for r in runs)
    per_cpu_s = sum(r.completed for r in runs) / cpu_s if cpu_s > 0 else float("nan")
    return CaseFigures(statistics.median(r.qps for r in runs), per_cpu_s,
                       avg, p99, sum(r.lost for r in runs))


def summarize_cases(report: dict) -> dict:
    """(count, mix, transport) -> ({server: CaseFigures}, best peer per CPU-s, best peer p99)."""
    summary = {}
    for case, runs in report["cases"].items():
        stats = {name: case_figures(rs) for name, rs in runs.items() if rs}
        peers = {n: v for n, v in stats.items() if n in report["peer_names"]}
        best_eff = max((v.per_cpu_s for v in peers.values()), default=None)
        best_p99 = min((v.p99_s for v in peers.values()), default=None)
        summary[case] = (stats, best_eff, best_p99)
    return summary


def _ratio(value, best) -> float | None:
    if value is None or best is None or best == 0 or (isinstance(value, float) and math.isnan(value)):
        return None
    return value / best


# --- issue 15 ---------------------------------------------------------------------------

STSCTL_REQUEST_ROWS = 20_000  # stsctl import's default --batch-size


def import_verdicts(report: dict) -> list[Verdict]:
    imports = report["imports"]
    out = []
    one_m = imports.get(1_000_000)
    if one_m and one_m.wall_s:
        out.append(Verdict("import of 1,000,000 domains ≤ 10 s", f"{one_m.wall_s:.1f} s ({one_m.rate:,.0f}/s)",
                           status(one_m.wall_s <= IMPORT_1M_TARGET_S)))
    elif one_m:
        out.append(Verdict("import of 1,000,000 domains ≤ 10 s", one_m.failure or "failed", "NOT met"))
    else:
        done = [f for f in imports.values() if f.wall_s]
        if done:
            largest = max(done, key=lambda f: f.count)
            out.append(Verdict("import of 1,000,000 domains ≤ 10 s",
                               f"not run; {largest.count:,} took {largest.wall_s:.1f} s ({largest.rate:,.0f}/s, "
                               f"1M at that rate: {1e6 / largest.rate:.0f} s)", "not measured"))
    for f in sorted(imports.values(), key=lambda f: f.count):
        if f.failure and f.count != 1_000_000:
            out.append(Verdict(f"import of {f.count:,} domains completes", f.failure, "NOT met"))
    # Memory follows the request (stsctl sends STSCTL_REQUEST_ROWS rows at a time; stsd
    # holds one request's rows, checks and write batch), so "whatever the file's size" is
    # judged between imports of several full requests: an import of fewer rows than one
    # request (the 1k set's) says nothing about the file's size.
    done = sorted((f for f in imports.values() if f.wall_s and f.count >= 2 * STSCTL_REQUEST_ROWS),
                  key=lambda f: f.count)
    if len(done) < 2:
        out.append(Verdict("import memory bounded whatever the file's size",
                           f"needs two imports of {2 * STSCTL_REQUEST_ROWS:,} rows or more (full requests of "
                           f"{STSCTL_REQUEST_ROWS:,}); this run has {len(done)}", "not measured"))
    else:
        small, large = done[0], done[-1]
        growth = large.stsctl_peak_rss_mib / max(small.stsctl_peak_rss_mib, 1)
        extra_small = small.stsd_peak_rss_mib - (small.serving_rss_mib or small.stsd_peak_rss_mib)
        extra_large = large.stsd_peak_rss_mib - (large.serving_rss_mib or large.stsd_peak_rss_mib)
        ok = (large.stsctl_peak_rss_mib <= 2 * small.stsctl_peak_rss_mib + 16
              and extra_large <= 2 * max(extra_small, 0) + 64)
        out.append(Verdict("import memory bounded whatever the file's size",
                           f"stsctl peak RSS {small.stsctl_peak_rss_mib:.0f} MiB at {small.count:,} → "
                           f"{large.stsctl_peak_rss_mib:.0f} MiB at {large.count:,} (×{growth:.2f}); stsd's peak "
                           f"above its serving RSS {extra_small:.0f} → {extra_large:.0f} MiB", status(ok)))
    return out


def udp_verdicts(summary: dict, stsd_names: list[str], large_from: int, latency: dict,
                 peer_names) -> list[Verdict]:
    out = []
    for (count, mix, transport), (stats, best_eff, best_p99) in summary.items():
        if transport != "udp" or count >= large_from:
            continue
        for name in stsd_names:
            s = stats.get(name)
            if not s or best_eff is None:
                continue
            eff = _ratio(s.per_cpu_s, best_eff)
            p99 = _ratio(s.p99_s, best_p99)
            out.append(Verdict(f"{name} {count:,} {_mix(mix)} UDP: QPS/CPU-s ≥ {UDP_TARGET:.1f}× best peer",
                               f"{eff:.2f}×", status(eff is not None and eff >= UDP_TARGET)))
            out.append(Verdict(f"{name} {count:,} {_mix(mix)} UDP: p99 at saturation ≤ best peer's",
                               f"{s.p99_s * 1e3:.3f} ms, {p99:.2f}×", status(p99 is not None and p99 <= 1.0)))
            out += same_load_p99_verdicts(latency, (count, mix, transport), name, peer_names)
    return out


def same_load_p99_verdicts(latency: dict, case: tuple, name: str, peer_names) -> list[Verdict]:
    """p99 of `name` against the best peer's when every server is offered the same rate
    (cases.run_latency); nothing when that run was off or failed."""
    runs = latency.get(case, {})
    mine = runs.get(name)
    peers = [merged_latency([r])[1] for n, r in runs.items() if n in peer_names]
    if mine is None or not peers:
        return []
    _, p99 = merged_latency([mine])
    ratio = _ratio(p99, min(peers))
    count, mix, _ = case
    return [Verdict(f"{name} {count:,} {_mix(mix)} UDP: p99 at the same offered load ≤ best peer's",
                    f"{p99 * 1e3:.3f} ms, {ratio:.2f}× ({mine.qps:,.0f} QPS)",
                    status(ratio is not None and ratio <= 1.0))]


def large_verdicts(report: dict, summary: dict, stsd_names: list[str]) -> list[Verdict]:
    out = []
    for count in report["sizes"]:
        if count < report["large_from"]:
            continue
        imp = report["imports"].get(count)
        if imp:
            ref_s = IMPORT_1M_TARGET_S * count / 1e6
            out.append(Verdict(f"import of {count:,} domains (no target; the 1M target's rate gives {ref_s:.0f} s)",
                               f"{imp.wall_s:.1f} s ({imp.rate:,.0f}/s)" if imp.wall_s else imp.failure,
                               status(imp.wall_s is not None and imp.wall_s <= ref_s)))
        startup = report["startup"].get(count, {})
        st = startup.get("stsd")
        out.append(Verdict(f"{count:,}: PSS after load ≤ 1.2 GiB", f"{st.pss_mib:,.0f} MiB" if st else "–",
                           status(st.pss_mib <= PSS_10M_TARGET_MIB if st else None)))
        out.append(Verdict(f"{count:,}: start-up to the first answer ≤ 10 s", f"{st.load_s:.2f} s" if st else "–",
                           status(st.load_s <= STARTUP_10M_TARGET_S if st else None)))
        for failure_name, failure in report["peer_failures"].get(count, {}).items():
            out.append(Verdict(f"{count:,}: {failure_name} loads the same records",
                               f"stopped after {failure.elapsed_s:.0f} s, {failure.why}; RSS {failure.rss_mib:,.0f} "
                               f"MiB (peak {failure.peak_rss_mib:,.0f} MiB)", "NOT met"))
        for (c, mix, transport), (stats, best_eff, best_p99) in summary.items():
            if c != count or transport != "udp":
                continue
            for name in stsd_names:
                s = stats.get(name)
                eff = _ratio(s.per_cpu_s, best_eff) if s else None
                out.append(Verdict(f"{name} {count:,} {_mix(mix)} UDP: QPS/CPU-s vs Knot (the 1k/1M target "
                                   f"{UDP_TARGET:.1f}× applied)", f"{eff:.2f}×" if eff else "–",
                                   status(None if eff is None else eff >= UDP_TARGET)))
    return out


# --- issue 6, kept --------------------------------------------------------------------

def tcp_verdicts(summary: dict, stsd_names: list[str]) -> list[Verdict]:
    out = []
    for (count, mix, transport), (stats, best_eff, best_p99) in summary.items():
        if transport != "tcp":
            continue
        for name in stsd_names:
            s = stats.get(name)
            eff = _ratio(s.per_cpu_s, best_eff) if s else None
            p99 = _ratio(s.p99_s, best_p99) if s else None
            if eff is None:
                continue
            out.append(Verdict(f"{name} {count:,} {_mix(mix)} TCP: QPS/CPU-s ≥ {TCP_TARGET:.1f}× best peer "
                               "(issue 6)", f"{eff:.2f}×, p99 {p99:.2f}×", status(eff >= TCP_TARGET)))
    return out


def peer_memory_verdicts(report: dict) -> list[Verdict]:
    out = []
    for count, entries in report["startup"].items():
        if count < 1_000_000 or "stsd" not in entries or "knot" not in entries:
            continue
        st, kn = entries["stsd"], entries["knot"]
        out.append(Verdict(f"{count:,}: memory ≤ 0.50× Knot's (issue 6)", f"{st.pss_mib / kn.pss_mib:.2f}×",
                           status(st.pss_mib <= 0.5 * kn.pss_mib)))
        out.append(Verdict(f"{count:,}: start-up ≤ Knot's (issue 6)", f"{st.load_s:.2f} s vs {kn.load_s:.2f} s",
                           status(st.load_s <= kn.load_s)))
    return out


# --- against an earlier results file -----------------------------------------------------

def read_baseline(path: str) -> dict:
    """From a results file of bench/harness.py: {"startup": {(count, server): (start-up s,
    VmRSS MiB)}, "cases": {(count, mix, transport, server): ×peer per CPU-s}}; empty when
    the file is missing."""
    base = {"path": path, "startup": {}, "cases": {}}
    if not path or not os.path.exists(path):
        return base
    section = ""
    with open(path) as f:
        for line in f:
            if line.startswith("## "):
                section = line[3:].strip()
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("|") or not cells[0].replace(",", "").isdigit():
                continue
            count = int(cells[0].replace(",", ""))
            try:
                if section.startswith("Start-up and memory"):
                    base["startup"][(count, cells[1])] = (float(cells[2]), float(cells[6].replace(",", "")))
                elif section.startswith("Throughput"):
                    mix = "hit" if cells[1] == "all hits" else "nx10"
                    base["cases"][(count, mix, cells[2].lower(), cells[3])] = float(cells[7])
            except (ValueError, IndexError):
                continue
    return base


def regression_verdicts(report: dict, summary: dict) -> list[Verdict]:
    base = report["baseline"]
    name = os.path.basename(base["path"]) if base["path"] else "?"
    out = []
    for count, entries in report["startup"].items():
        st = entries.get("stsd")
        before = base["startup"].get((count, "stsd"))
        if not st or not before:
            continue
        then_load, then_rss = before
        factor, slack = MEMORY_REGRESSION
        out.append(Verdict(f"{count:,}: memory no worse than {name}",
                           f"VmRSS {st.rss_mib:,.0f} MiB vs {then_rss:,.0f} MiB (×{st.rss_mib / then_rss:.2f}; "
                           f"PSS now {st.pss_mib:,.0f} MiB)", status(st.rss_mib <= then_rss * factor + slack)))
        factor, slack = STARTUP_REGRESSION
        out.append(Verdict(f"{count:,}: start-up no worse than {name}",
                           f"{st.load_s:.2f} s vs {then_load:.2f} s", status(st.load_s <= then_load * factor + slack)))
    for (count, mix, transport), (stats, best_eff, _) in summary.items():
        s = stats.get("stsd")
        before = base["cases"].get((count, mix, transport, "stsd"))
        if transport != "tcp" or not s or before is None or not best_eff:
            continue
        now = s.per_cpu_s / best_eff
        out.append(Verdict(f"{count:,} {_mix(mix)} TCP: ×peer per CPU-s no worse than {name}",
                           f"{now:.2f}× vs {before:.2f}×", status(now >= before * TCP_REGRESSION)))
    return out


def all_verdicts(report: dict, summary: dict) -> dict[str, list[Verdict]]:
    stsd_names = report["stsd_names"]
    return {
        "Import (1M ≤ 10 s, memory bounded)": import_verdicts(report),
        "UDP (≥ 1.5× the best peer per CPU-second, p99 ≤ the best peer's)": udp_verdicts(
            summary, stsd_names, report["large_from"], report.get("latency", {}), report["peer_names"]),
        "10 million domains (every size from --large-from)": large_verdicts(report, summary, stsd_names),
        "No regression: TCP (issue 6), memory and start-up": (
            tcp_verdicts(summary, stsd_names) + peer_memory_verdicts(report) + regression_verdicts(report, summary)),
    }


def _mix(mix: str) -> str:
    return "all hits" if mix == "hit" else "10% NXDOMAIN"
