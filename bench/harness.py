#!/usr/bin/env python3
"""Side-by-side benchmark of stsd against Knot DNS and NSD (issues 6 and 15). Run it through
bench/run.sh, which installs the tools and builds stsd first; see bench/README.md.

What one run does, per data set (N domains; the parts live in bench/benchlib/):
  1. stsd: a fresh store, `stsctl import FILE.csv --confirm-now --reason bench` timed with
     stsd's CPU seconds and the peak memory of stsd and stsctl, then a restart timed from
     exec to the first correct answer (start-up from the store); any stsd variant
     (--stsd-variant) starts on a copy of that store;
  2. the ids stsd serves are read back over DNS and written, at the identical names, into
     one zone file for the peers, which are started and timed the same way (a peer that
     cannot load the set within the bound is reported with the time and memory reached);
  3. for every query mix (all hits / 10% NXDOMAIN) and transport (UDP / TCP with
     persistent connections; UDP only from --large-from), every server is measured with
     dnsperf, alternating the servers over several rounds; the server's CPU time comes
     from /proc/<pid>/stat of its process tree, latency from dnsperf -v;
  4. a sample of stsd's answers is checked during the load (id format, AA, rcode) and
     compared with the peers' answers to the same questions (same bytes on the wire);
  5. every target (issue 15, issue 6, no regression against an earlier results file) is
     listed as met, NOT met or not measured.
Every process this script starts is stopped by its PID on exit (normal, error or signal).
Traffic goes to 127.0.0.1 only.

bench/xfr, bench/protections and bench/confirm import this module for the helpers below.
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsdata  # noqa: E402
from benchlib import importing  # noqa: E402
from benchlib.cases import callgrind_figures, change_run, run_cases, run_latency  # noqa: E402
from benchlib.checks import compare_answers  # noqa: E402
from benchlib.data import import_csv, prepare_data  # noqa: E402
from benchlib.loading import ImportFailed, load_stsd, start_peers, start_variants  # noqa: E402
from benchlib.report import render  # noqa: E402
from benchlib.servers import StartFailure  # noqa: E402
from benchlib.targets import read_baseline  # noqa: E402

# The helpers the other benchmarks (bench/xfr, bench/protections, bench/confirm) use.
from benchlib.dnsperf import RunResult, run_dnsperf  # noqa: E402,F401
from benchlib.machine import (SOURCE_DIR, cpu_model as _cpu_model, first_line as _first_line,  # noqa: E402,F401
                              git_commit, loadavg, log, write_results)
from benchlib.processes import (CLK_TCK, HOST, cpu_seconds, memory_mib, start_process,  # noqa: E402,F401
                                stat_fields as _stat_fields, stop_process)
from benchlib.servers import Stsd  # noqa: E402,F401

VARIANT_KINDS = {
    "env": "environment KEY=VALUE",
    "top": "top-level config YAML",
    "server": "YAML in the server block (beside listen:)",
    "plugins": "YAML beside mtasts: in the plugins",
}


def parse_variants(specs: list[str]) -> dict[str, dict]:
    """--stsd-variant NAME:KIND:VALUE (repeatable) -> {NAME: {"env": {}, "top": "", ...}}.
    NAME "stsd" changes the main stsd; any other NAME adds a server "stsd-NAME"."""
    variants: dict[str, dict] = {}
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3 or parts[1] not in VARIANT_KINDS or not parts[0].replace("-", "").isalnum():
            raise SystemExit(f"bench: --stsd-variant '{spec}': expected NAME:KIND:VALUE with KIND one of "
                             f"{', '.join(VARIANT_KINDS)} (e.g. uring:env:STSD_UDP=io_uring)")
        name, kind, value = parts
        v = variants.setdefault(name, {"env": {}, "top": "", "server": "", "plugins": ""})
        if kind == "env":
            key, sep, val = value.partition("=")
            if not sep or not key:
                raise SystemExit(f"bench: --stsd-variant '{spec}': env needs KEY=VALUE")
            v["env"][key] = val
        else:
            v[kind] += value.rstrip("\n") + "\n"
    return variants


def describe_variant(v: dict) -> str:
    parts = [f"env {k}={val}" for k, val in v["env"].items()]
    parts += [f"{kind} `{v[kind].strip()}`" for kind in ("top", "server", "plugins") if v[kind]]
    return ", ".join(parts) or "the defaults"


def make_stsd(args, count: int, name: str, port: int) -> Stsd:
    spec = args.variants.get("stsd" if name == "stsd" else name[len("stsd-"):],
                             {"env": {}, "top": "", "server": "", "plugins": ""})
    return Stsd(port, os.path.join(args.work, f"{name}-{count}"), args.workers, args.bin_dir,
                plugins_yaml=spec["plugins"], top_yaml=spec["top"], server_yaml=spec["server"],
                extra_env=spec["env"], name=name)


def load_stsd_servers(args, count: int, files: dict, report: dict) -> tuple[list[Stsd], list[str] | None]:
    """The main stsd (import, start-up, ids) and its variants; ([], None) with the reason
    in report["size_failures"] when stsd could not be loaded at this size."""
    main = make_stsd(args, count, "stsd", args.port_base + 3)
    try:
        ids = load_stsd(main, files, count, args)
    except ImportFailed as failure:
        report["imports"][count] = failure.figures
        report["size_failures"][count] = str(failure)
        return [], None
    except (StartFailure, RuntimeError) as failure:
        main.stop()
        report["imports"][count] = getattr(main, "import_figures", None) or report["imports"].get(count)
        report["size_failures"][count] = str(failure).splitlines()[0]
        if report["imports"][count] is None:
            del report["imports"][count]
        return [], None
    report["imports"][count] = main.import_figures
    extra = [make_stsd(args, count, f"stsd-{name}", args.port_base + 4 + k)
             for k, name in enumerate(n for n in args.variants if n != "stsd")]
    return [main] + (start_variants(main, extra, count, args) if extra else []), ids


def run_size(args, count: int, report: dict) -> None:
    large = count >= args.large_from
    files = prepare_data(args, count)
    rng = random.Random(count)
    stsds, ids = load_stsd_servers(args, count, files, report) if args.with_stsd else ([], None)
    if ids is None:
        ids = dnsdata.synthetic_ids(count)
    dnsdata.write_peer_zone(files["zone"], ids)
    del ids
    failures = report["peer_failures"].setdefault(count, {})
    peers = start_peers(args, args.large_peers if large else args.peers, count, files["zone"], failures)
    if not failures:
        del report["peer_failures"][count]
    servers = stsds + peers
    report["servers"].update({s.name: s.version for s in servers})
    report["peer_names"].update(p.name for p in peers)
    report["stsd_names"].extend(s.name for s in stsds if s.name not in report["stsd_names"])
    report["startup"][count] = {s.name: s.startup_figures() for s in servers}
    try:
        if len(servers) > 1:
            report["differences"][count] = compare_answers(servers, count, rng)
        if servers:
            run_cases(args, count, servers, files, ["hit", "nx10"], ["udp"] if large else ["udp", "tcp"],
                      args.large_rounds if large else args.rounds, report, rng)
            run_latency(args, count, servers, files, ["hit", "nx10"], report)
        if stsds and args.change_run and not large:
            report["change"][count] = change_run(stsds[0], files, args,
                                                 report["cases"][(count, "hit", "udp")]["stsd"])
    finally:
        for s in servers:
            s.stop()


def run_imports_only(args, report: dict) -> None:
    for count in args.import_sizes:
        if count in report["imports"]:
            continue
        report["imports"][count] = importing.import_only(args, count, import_csv(args, count), args.port_base + 9)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="stsd build dir (bin/stsd, bin/stsctl)")
    ap.add_argument("--work", help="scratch dir for data, stores and configs (default BUILD/bench-work)")
    ap.add_argument("--quick", action="store_true", help="1k domains served, a 50k import, 3 s runs, 1 round")
    ap.add_argument("--sizes", help="comma-separated domain counts served and measured "
                                    "(default 1000,1000000,10000000; --quick: 1000)")
    ap.add_argument("--import-sizes", help="comma-separated counts imported only, nothing served "
                                           "(default none; --quick: 50000)")
    ap.add_argument("--rounds", type=int, help="rounds per case (default 3; --quick: 1)")
    ap.add_argument("--duration", type=int, help="seconds per dnsperf run (default 15; --quick: 3)")
    ap.add_argument("--peers", default="knot,nsd", help="peers to run (knot,nsd)")
    ap.add_argument("--large-from", type=int, default=5_000_000,
                    help="from this many domains: UDP only, --large-peers, --large-rounds, no rotation run")
    ap.add_argument("--large-peers", default="knot", help="peers at large sizes (default knot)")
    ap.add_argument("--large-rounds", type=int, help="rounds per case at large sizes (default 2; --quick: 1)")
    ap.add_argument("--no-stsd", action="store_true", help="measure the peers only (synthetic ids)")
    ap.add_argument("--stsd-variant", action="append", default=[], metavar="NAME:KIND:VALUE",
                    help="another stsd measured beside the others on a copy of the store, named stsd-NAME "
                         "(NAME stsd changes the main one); KIND: "
                         + "; ".join(f"{k}: {v}" for k, v in VARIANT_KINDS.items()) + ". Repeatable.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8, help="dnsperf -c (sockets / TCP connections)")
    ap.add_argument("--outstanding", type=int, default=200, help="dnsperf -q")
    ap.add_argument("--latency-qps", type=int, default=30_000,
                    help="UDP latency at this offered rate (dnsperf -Q), each server once per mix; 0: off")
    ap.add_argument("--tcp-queries-per-conn", type=int, default=0,
                    help="reconnect after N queries (0: keep each connection for the whole run)")
    ap.add_argument("--port-base", type=int, default=5300,
                    help="knot +1, nsd +2, stsd +3, variants +4..., import-only +9")
    ap.add_argument("--start-timeout", type=float, default=300,
                    help="seconds for a server's first answer (peers: at least 120 s per million names)")
    ap.add_argument("--import-timeout", type=float,
                    help="seconds an import may take (default max(600, 180 per million domains))")
    ap.add_argument("--no-change-run", dest="change_run", action="store_false",
                    help="skip the stsd run with a rotation and a confirmation mid-run")
    ap.add_argument("--callgrind-queries", type=int,
                    help="queries per server for the instructions-per-query figure (default 20000; "
                         "--quick: 0 = skip)")
    ap.add_argument("--baseline", default=os.path.join(SOURCE_DIR, "bench", "results", "2026-11-29.md"),
                    help="earlier results file that memory, start-up and TCP must not regress against")
    ap.add_argument("--results-dir", default=os.path.join(SOURCE_DIR, "bench", "results"))
    ap.add_argument("--results-name", default="",
                    help="results file <date>[-NAME][-quick].md (default <date>.md, <date>-quick.md)")
    ap.add_argument("--no-results-file", action="store_true", help="print the table only")
    args = ap.parse_args()

    def counts(text: str) -> list[int]:
        return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]

    args.sizes = counts(args.sizes or ("1000" if args.quick else "1000,1000000,10000000"))
    args.import_sizes = counts(args.import_sizes if args.import_sizes is not None else
                               ("50000" if args.quick else ""))
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.large_rounds = args.large_rounds or (1 if args.quick else 2)
    args.duration = args.duration or (3 if args.quick else 15)
    if args.callgrind_queries is None:
        args.callgrind_queries = 0 if args.quick else 20000
    args.peers = [p for p in args.peers.split(",") if p]
    args.large_peers = [p for p in args.large_peers.split(",") if p]
    args.variants = parse_variants(args.stsd_variant)
    args.work = os.path.abspath(args.work or os.path.join(args.build_dir, "bench-work"))
    args.bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    return args


def command_line() -> list[str]:
    """The options as given to bench/run.sh (without the --build-dir it adds)."""
    argv = sys.argv[1:]
    if "--build-dir" in argv:
        i = argv.index("--build-dir")
        argv = argv[:i] + argv[i + 2:]
    return argv


def stsd_unavailable(args) -> str:
    if args.no_stsd:
        return "--no-stsd"
    for exe in ("stsd", "stsctl"):
        if not os.access(os.path.join(args.bin_dir, exe), os.X_OK):
            return f"{args.bin_dir}/{exe} was not built"
    return ""


def main() -> int:
    started = time.monotonic()
    args = parse_args()
    dnsdata.ensure_dir(args.work)
    peer_tools = {"knot": "knotd", "nsd": "nsd"}
    for tool in ["dnsperf"] + [peer_tools[p] for p in set(args.peers) | set(args.large_peers)]:
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed (scripts/deps.sh --bench installs it)", file=sys.stderr)
            return 2
    reason = stsd_unavailable(args)
    args.with_stsd = not reason
    if reason:
        log(f"measuring the peers only: {reason}")

    report = {"date": datetime.datetime.now(datetime.timezone.utc), "argv": command_line(), "commit": git_commit(),
              "servers": {}, "startup": {}, "cases": {}, "samples": [], "differences": {}, "change": {},
              "latency": {}, "imports": {}, "peer_failures": {}, "size_failures": {},
              "sizes": args.sizes, "large_from": args.large_from,
              "peer_names": set(), "stsd_names": [], "no_stsd_reason": reason,
              "variants": {("stsd" if n == "stsd" else f"stsd-{n}"): describe_variant(v)
                           for n, v in args.variants.items()},
              "baseline": read_baseline(args.baseline)}
    if args.with_stsd:
        run_imports_only(args, report)
    for count in args.sizes:
        run_size(args, count, report)
    if args.callgrind_queries:
        report["callgrind"] = callgrind_figures(args, min(args.sizes), list(report["servers"]))
    report["loads"] = [r.load for runs in report["cases"].values() for rs in runs.values() for r in rs]
    report["elapsed_s"] = time.monotonic() - started
    text = render(report, args)
    print(text)
    if not args.no_results_file:
        name = args.results_name if args.with_stsd else "-".join(filter(None, [args.results_name, "peers-only"]))
        log(f"wrote {write_results(args.results_dir, report['date'], name, args.quick, text)}")
    failures = [f for _, _, fs in report["samples"] for f in fs]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
