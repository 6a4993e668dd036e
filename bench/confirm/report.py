"""The confirm-scheduler benchmark's report (see confirm_harness.py): the probes per second
a number of domains needs, and the Markdown of one run, appended to the results file."""
from __future__ import annotations

import os
import platform

import harness as bench   # bench/harness.py (the caller puts bench/ on sys.path): _cpu_model

DAY_S = 86400
DRIFT_INTERVAL_S = 3600   # the confirmer's default; the bench leaves it as is


def needed_rates(domains: int, vantages: int = 2) -> list[tuple[str, float]]:
    """Probes per second for `domains` x `vantages`, by the rounds each domain gets a day:
    the verification round before its rotation, plus the drift rounds."""
    per_round = domains * vantages / DAY_S
    rows = [("1 (the verification round before the rotation)", per_round)]
    for hours in (24, 6, 1):
        rounds = 1 + 24 // hours
        default = " (`drift_interval` default)" if hours * 3600 == DRIFT_INTERVAL_S else ""
        rows.append((f"{rounds} (+ drift rounds every {hours} h{default})", per_round * rounds))
    return rows


def state_bytes_per_domain(p: dict, baseline: dict, domains: int) -> float:
    """The confirmer's state per domain once every domain has had a round. After a
    complete pass: the process at the end less the process without `confirm:`, over the
    domains (fixed costs such as kept-alive connections included, so an upper bound).
    Otherwise extrapolated: what watching costs (the fitted process with none probed,
    less the process without `confirm:`, over the domains) plus what one probed domain
    adds (the fitted slope)."""
    if p["complete"]:
        return (p["pss_mib"] - baseline["pss_mib"]) * 2**20 / domains
    return (p["pss_watched_mib"] - baseline["pss_mib"]) * 2**20 / domains + p["pss_per_probed_domain_b"]


def render(report: dict, args) -> str:
    n = args.domains
    host = report["host"]
    passes = report["passes"]
    base = report["baseline"]
    lines = [f"## Run {report['date']:%Y-%m-%d %H:%M} UTC, commit {report['commit']}", "",
             f"- Commit: `{report['commit']}`; stsd's code (src/, plugins/, tools/) last changed in "
             f"`{report['code_commit']}` ({report['code_subject']}).",
             f"- Machine: {os.cpu_count()} cores ({bench._cpu_model()}), {platform.release()}; both stsd processes "
             f"and the harness on the same machine over loopback. Load average at the start "
             f"{report['load_start']:.2f}, at the end {report['load_end']:.2f} (other work shares the cores, so "
             "rates are lower bounds; CPU seconds per probe are the robust figure).",
             f"- Data: {n:,} domains `dom<i>.example` (enforce, 2 mx patterns), imported with "
             f"`stsctl import --confirm-now` in {report['import_s']:.1f} s.",
             f"- Certificates: one per `mta-sts.<domain>` (ECDSA P-256, one shared key, SAN = the host name) "
             f"signed by a bench CA; "
             + (f"generated in {report['certs_s']:.1f} s" if report["certs_s"] is not None
                else "reused from the cache (generation is timed on the first run)")
             + "; the confirmer verifies chain, name and dates against `confirm.ca_file` as for any host.",
             f"- HOST: stsd with `policy_host:` on {report['vantages'][0]}:P and {report['vantages'][1]}:P "
             f"(`threads: {args.host_threads}`, no per-client limits, no access log): {n:,} certificates loaded "
             f"and the last domain served on both in {host['ready_s']:.1f} s; RSS {host['rss_mib']:,.0f} MiB.",
             f"- First start: the CONFIRMER is started once on the new store and stopped when it serves "
             f"({report['first_start']['ready_s']:.1f} s, PSS {report['first_start']['pss_mib']:,.0f} MiB then), so "
             "that each pass below is a restart on a store the confirmer has seen (its one-time work on a new store, "
             "e.g. gating every domain's rotation, is not in the figures).",
             "- CONFIRMER: a second stsd on its own copy of the store with `confirm:` (vantages = the two "
             "addresses, every other key at its default but `max_concurrent_probes`) and `metrics:`. "
             + (f"At start every domain is due, so it probes {n:,} domains x 2 vantages at full tilt. "
                if args.drive == "start" else
                f"{args.watch_wait_used:.0f} s after its start (every domain watched) the test clock "
                f"(`STSD_CLOCK_OFFSET_FILE`) moves {args.clock_jump:,} s ahead, past every domain's first due time, so "
                f"that all {n:,} domains x 2 vantages are due at once and probed at full tilt. ")
             + "Figures come from "
             "`stsd_confirm_probes_total`, `stsd_confirm_domains` and `/proc/PID/stat` (utime+stime) and "
             f"`smaps_rollup` sampled every {args.sample_every:g} s, from the first probe to the last (or the "
             f"{args.pass_limit:.0f} s limit).",
             "", "### Probes per second and CPU", "",
             "| max_concurrent_probes | probes done | time (s) | probes/s | first quarter /s | last quarter /s | "
             "full pass at this rate (s) | CONFIRMER CPU s / 1,000 probes | CONFIRMER busiest thread, share of a "
             "core | HOST CPU s / 1,000 probes | not `match` |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in passes:
        matched_before = p["watched"]["by_result"].get("match", 0) if p["watched"] else 0
        bad = p["probes"] - (p["by_result"].get("match", 0) - matched_before)
        per_k = lambda s: s / p["span_probes"] * 1000 if p["span_probes"] else 0.0  # noqa: E731
        full = f"{p['span_s']:.0f} (done)" if p["complete"] else (f"{p['target'] / p['rate']:,.0f}" if p["rate"] else "-")
        lines.append(f"| {p['concurrency']} | {p['probes']:,} of {p['target']:,} | {p['span_s']:.0f} | "
                     f"{p['rate']:,.0f} | {p['rate_first_quarter']:,.0f} | {p['rate_last_quarter']:,.0f} | {full} | "
                     f"{per_k(p['confirmer_cpu_s']):.3f} | {p['busiest_thread_share'] * 100:.0f} % | "
                     f"{per_k(p['host_cpu_s']):.3f} | {bad:,} |")
    profiled = [p for p in passes if p["profile"]]
    if profiled:
        lines += ["", "Where the CONFIRMER's busiest thread spends its time (`perf record -t`, 5 s in the middle "
                  "of the pass, self time):", ""]
        for p in profiled:
            for key, what in (("symbol", "symbols"), ("dso", "objects")):
                top = "; ".join(f"{share:.0f} % `{name}`" for share, name in p["profile"].get(key, []))
                lines.append(f"- max_concurrent_probes {p['concurrency']}, top {what}: {top}")
    lines += ["", "### Memory of the confirmer's state", "",
              "PSS of the CONFIRMER process (`smaps_rollup`). *State per domain*: after a complete pass, (PSS at "
              f"the end - PSS without `confirm:`) / {n:,}, fixed costs included; after an incomplete one, "
              "extrapolated from a least-squares fit of PSS against domains probed over the second half of the pass: "
              "(intercept - PSS without `confirm:`) / domains + slope.", "",
              "| CONFIRMER process | PSS (MiB) | state per domain (bytes) |", "|---|---:|---:|",
              f"| without `confirm:` | {base['pss_mib']:,.0f} | |"]
    for p in passes:
        label = f"`confirm:`, max_concurrent_probes {p['concurrency']}"
        if p["watched"]:
            w = p["watched"]
            lines.append(f"| {label}: every domain watched, {w['after_s']:.0f} s after start ({w['domains_probed']:,} "
                         f"probed by then) | {w['pss_mib']:,.0f} | "
                         f"{(w['pss_mib'] - base['pss_mib']) * 2**20 / n:,.0f} (watching only) |")
        if not p["complete"]:
            lines.append(f"| {label}: fit, none probed (intercept) / per probed domain (slope) | "
                         f"{p['pss_watched_mib']:,.0f} | {p['pss_per_probed_domain_b']:,.0f} per probed domain |")
        lines.append(f"| {label}: at the end ({p['domains_probed']:,} domains probed) | {p['pss_mib']:,.0f} | "
                     f"{state_bytes_per_domain(p, base, n):,.0f}{'' if p['complete'] else ' (extrapolated)'} |")

    lines += ["", "### Needed against achieved", "",
              "| domains x 2 vantages | rounds per domain a day | probes/s needed |", "|---:|---|---:|"]
    for count in (n, 1_000_000):
        for what, rate in needed_rates(count):
            lines.append(f"| {count:,} | {what} | {rate:,.1f} |")
    best = max(passes, key=lambda p: p["rate"])
    cpu_per_probe = best["confirmer_cpu_s"] / best["span_probes"] if best["span_probes"] else 0.0
    lines += ["", f"Against the best pass (max_concurrent_probes {best['concurrency']}: {best['rate']:,.0f} probes/s, "
              f"{cpu_per_probe * 1000:.2f} ms of CONFIRMER CPU per probe, at {n:,} domains):", ""]
    for what, rate in needed_rates(1_000_000):
        lines.append(f"- 1,000,000 domains, {what} round(s) a day: needs {rate:,.1f} probes/s = "
                     f"{rate / best['rate'] * 100:,.0f} % of the rate achieved; CONFIRMER CPU "
                     f"{rate * cpu_per_probe * 100:,.0f} % of one core (if the cost per probe stayed as at {n:,}).")
    per_domain = state_bytes_per_domain(best, base, n)
    lines.append(f"- Memory: {per_domain:,.0f} bytes of confirmer state per domain, about "
                 f"{per_domain * 1e6 / 2**20:,.0f} MiB for 1,000,000 domains.")
    return "\n".join(lines) + "\n"


def write_results(text: str, args) -> str:
    path = args.output
    header = ("# Confirm scheduler benchmark (issue 11, item 3)\n\n"
              "How fast the confirmer probes every domain x vantage against stsd's own policy host, its CPU per "
              "probe, and its memory per domain. One command: `bench/confirm/run.sh` (see bench/README.md). "
              "Each run below is appended by the harness.\n\n")
    if os.path.exists(path) and not args.replace:
        with open(path, "a") as f:
            f.write("\n" + text)
    else:
        with open(path, "w") as f:
            f.write(header + text)
    return path
