#!/usr/bin/env python3
"""The zone-transfer benchmark (issue 13): how long a change takes to be served by a Knot
secondary and a BIND secondary when stsd is the hidden primary, compared in the same run
with a Knot primary serving the same zones from files. Run it through bench/xfr/run.sh,
which builds stsd first; see bench/README.md.

For each data set (N domains) and each primary (knot, stsd):
  1. the primary serves N zones `_mta-sts.dom<i>.example.` (SOA, 2 NS, one TXT, as stsd
     synthesizes them) and a catalog zone (RFC 9432) listing them: Knot from zone files
     with `catalog-role: generate` (tests/e2e/secondaries.py KnotPrimary), stsd from a
     store filled by `stsctl import --confirm-now` with the `transfer` plugin;
  2. a Knot and a BIND secondary (tests/e2e/secondaries.py, the deployment guide's
     configs) consume the catalog, signed with one TSIG key; "provision" is the time until
     both serve every zone at the primary's serial;
  3. "mass change": every zone changes at once (stsd: a second import with another
     max_age, confirmed, so every id changes; Knot: every zone file rewritten with a new
     id, then `knotc zone-reload`); the time from the change to each zone being served
     with the primary's new serial, per secondary;
  4. "steady": rotations spread over time (stsd: `rotation` = N / rate seconds, so rate
     domains rotate per second; Knot: a driver rewrites and reloads rate zones per
     second) for a fixed time; the lag of each change seen on a watched sample of zones.
Serials are read with a windowed UDP SOA poller (bench/dnsdata.py fetch), never one
process per zone. Transfers (IXFR or AXFR, bytes) come from the secondaries' logs; the
primary's CPU (utime+stime) and PSS come from /proc every 0.5 s. Every loop is bounded
in count and time; every process is stopped by its PID on exit; traffic stays on loopback.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time

XFR_DIR = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(XFR_DIR)
SOURCE_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import dnsdata  # noqa: E402
import harness as bench  # noqa: E402  (process control, CPU and memory readers)

# tests/e2e/secondaries.py imports the e2e harness, also a module named `harness`.
del sys.modules["harness"]
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))
import secondaries  # noqa: E402

log = bench.log
HOST = bench.HOST
CATALOG = "catalog.bench.invalid."
NAMESERVERS = ("ns1.provider.test.", "ns2.provider.test.")
SECONDARY_KINDS = ("knotd", "named")
SAMPLE_EVERY_S = 0.5
IXFR_PROBES = 20   # zones whose IXFR the bench asks itself after the mass change
POLL_RATE = 4000   # SOA queries per second and secondary while waiting for a change


def free_port() -> int:
    """secondaries.free_port below the kernel's ephemeral range (32768-60999 by default),
    so that no client socket of this run (the pollers, the primaries' NOTIFYs and
    transfers) takes a secondary's port between its choice and the secondary's start."""
    for _ in range(200):
        port = secondaries.free_port(HOST)
        if port < 32768:
            return port
    raise RuntimeError("no free port below 32768")


# --- zones ----------------------------------------------------------------------------

def zone_text(ident: str) -> str:
    """A zone of the shape stsd synthesizes for `_mta-sts.<d>` (serial set by Knot)."""
    ns = "".join(f"@ NS {n}\n" for n in NAMESERVERS)
    return (f"$TTL {dnsdata.TTL}\n@ SOA {NAMESERVERS[0]} {dnsdata.HOSTMASTER} 1 3600 600 604800 {dnsdata.TTL}\n"
            f"{ns}@ TXT \"v=STSv1; id={ident};\"\n")


def random_id(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return time.strftime("%Y%m%d", time.gmtime()) + "v2" + "".join(rng.choice(alphabet) for _ in range(10))


# --- primaries ------------------------------------------------------------------------

class KnotFilesPrimary:
    """Knot serving the zones from files with a generated catalog (secondaries.KnotPrimary)."""

    name = "knot"

    def __init__(self, workdir: str, count: int, key, notify: list[tuple[str, int]], args):
        self.count = count
        self.rng = random.Random(13)
        zones = {dnsdata.owner(i): zone_text(random_id(self.rng)) for i in range(count)}
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        self.server = secondaries.KnotPrimary(zones, key, CATALOG, notify=notify, workdir=workdir, port=free_port())
        self.port = self.server.port
        self.version = bench._first_line(["knotd", "--version"])
        self.change_command = "every zone file rewritten, `knotc zone-reload`"

    @property
    def pid(self) -> int | None:
        return self.server.proc.pid if self.server.proc and self.server.proc.poll() is None else None

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def write_zone(self, i: int) -> None:
        name = dnsdata.owner(i)
        text = zone_text(random_id(self.rng))
        self.server.zones[name] = text
        with open(self.server.zone_path(name), "w") as f:
            f.write(text)

    def change_all(self) -> None:
        for i in range(self.count):
            self.write_zone(i)
        self.server.knotc("zone-reload")

    def rotate(self, indices: list[int]) -> None:
        for i in indices:
            self.write_zone(i)
        self.server.knotc("zone-reload", *[dnsdata.owner(i) for i in indices])

    def log_tail(self) -> str:
        return self.server.diagnostics()


class StsdPrimary(bench.Stsd):
    """stsd with the `transfer` plugin in front of `mtasts` (NS-delegation zones)."""

    def __init__(self, workdir: str, count: int, key, notify: list[tuple[str, int]], args):
        shutil.rmtree(workdir, ignore_errors=True)
        super().__init__(free_port(), workdir, args.workers, args.bin_dir)
        self.count, self.key, self.notify = count, key, notify
        self.rotation_s = max(1, round(count / args.rate))
        self.csv = {}
        for generation, max_age in ((1, 604800), (2, 86400)):
            self.csv[generation] = os.path.join(self.workdir, f"domains-{generation}.csv")
            dnsdata.write_csv(self.csv[generation], count, max_age=max_age)
        self.change_command = "`stsctl import --confirm-now` of every domain with a new max_age"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def prepare(self) -> None:
        w = self.workdir
        with open(self.clock_offset_file, "w") as f:
            f.write("0\n")
        targets = "".join(f"            - {{address: \"{h}:{p}\", key: {self.key.name}}}\n" for h, p in self.notify)
        with open(os.path.join(w, "stsd.yaml"), "w") as f:
            f.write(f"""storage: {w}/stsd.db
workers: {self.workers}
log_level: warning
admin: {{ socket: {self.socket} }}
servers:
  - listen: ["{HOST}:{self.port}"]
    plugins:
      transfer:
        keys:
          {self.key.name}: {{algorithm: {self.key.algorithm}, secret: "{self.key.secret}"}}
        allow:
          - {{prefix: 127.0.0.0/8, key: {self.key.name}}}
        notify:
          targets:
{targets}        catalog: {CATALOG}
      mtasts:
        nameservers: [{", ".join(NAMESERVERS)}]
        hostmaster: {dnsdata.HOSTMASTER}
        ttl: {dnsdata.TTL}
        rotation: {self.rotation_s}s
""")
        self.version = bench._first_line([os.path.join(self.bin_dir, "stsd"), "--version"])

    def start(self) -> None:
        self.prepare()
        self.start_empty()
        self.import_csv(1)

    def import_csv(self, generation: int) -> None:
        done = self.stsctl("import", self.csv[generation], "--confirm-now", "--reason", "bench")
        if done.returncode != 0:
            raise RuntimeError(f"stsctl import failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def change_all(self) -> None:
        self.import_csv(2)


# --- measuring ------------------------------------------------------------------------

def serials(port: int, names: list[str], timeout_s: float) -> dict[str, tuple[int, float]]:
    """name -> (SOA serial, time.monotonic() of the answer) for every name `port` serves
    with AA and NOERROR (a secondary that has not provisioned a zone refuses it)."""
    out = {}
    for name, r in dnsdata.fetch(HOST, port, names, qtype=6, timeout_s=timeout_s).items():
        serial = r.soa_serial() if r.rcode == 0 and r.authoritative else None
        if serial is not None:
            out[name] = (serial, r.received)
    return out


def wait_serials(port: int, targets: dict[str, int], t0: float, limit_s: float, stall_s: float,
                 progress: dict, max_passes: int = 100_000) -> dict[str, float]:
    """Polls until every name is served with its target serial or a newer one (RFC 1982);
    returns name -> seconds from t0 to the first answer that showed it. Bounded by
    limit_s after t0, by max_passes, and by stall_s during which no zone came in, neither
    here nor at any other server of the phase (`progress["at"]`, shared: a primary still
    applying a change keeps its secondaries' waits going)."""
    seen: dict[str, float] = {}
    pending = list(targets)
    deadline = t0 + limit_s
    last_progress = t0
    for _ in range(max_passes):
        now = time.monotonic()
        if not pending or now >= deadline or now - max(last_progress, progress["at"]) > stall_s:
            break
        pass_start = time.monotonic()
        for name, (serial, at) in serials(port, pending, max(1.0, deadline - pass_start)).items():
            if serial == targets[name] or secondaries.serial_newer(serial, targets[name]):
                seen[name] = at - t0
        if len(pending) != len(pending := [n for n in pending if n not in seen]):
            last_progress = progress["at"] = time.monotonic()
        # At most POLL_RATE queries a second on average, so that polling 100,000 zones
        # does not take the CPU the transfers need (the lag's resolution is this interval).
        time.sleep(max(0.0, max(0.1, len(pending) / POLL_RATE) - (time.monotonic() - pass_start)))
    return seen


def primary_serials(port: int, names: list[str], limit_s: float) -> dict[str, int]:
    """The primary's serial of every name, waiting (bounded) until it serves them all."""
    deadline = time.monotonic() + limit_s
    found: dict[str, int] = {}
    for _ in range(10_000):
        pending = [n for n in names if n not in found]
        if not pending:
            return found
        if time.monotonic() >= deadline:
            break
        pass_start = time.monotonic()
        found.update({n: s for n, (s, _) in serials(port, pending, deadline - pass_start).items()})
        time.sleep(max(0.0, max(0.1, len(pending) / POLL_RATE) - (time.monotonic() - pass_start)))
    raise RuntimeError(f"the primary serves {len(found)} of {len(names)} zones after {limit_s:.0f}s")


class Sampler:
    """CPU seconds and PSS of the measured processes every SAMPLE_EVERY_S (a thread)."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.samples: list[tuple[float, dict[str, tuple[float, float]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _take(self):
        now = {}
        for role, pid in list(self.pids.items()):   # the run adds the secondaries later
            try:
                now[role] = (bench.cpu_seconds(pid), bench.memory_mib(pid)[1])
            except (OSError, ValueError):
                continue
        self.samples.append((time.monotonic(), now))

    def _run(self):
        while not self._stop.is_set():
            self._take()
            self._stop.wait(SAMPLE_EVERY_S)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self._take()

    def window(self, t0: float, t1: float) -> dict[str, tuple[float, float]]:
        """role -> (CPU seconds used between t0 and t1, peak PSS MiB seen in between)."""
        inside = [s for s in self.samples if t0 - SAMPLE_EVERY_S <= s[0] <= t1 + SAMPLE_EVERY_S]
        out = {}
        for role in list(self.pids):
            points = [s[1][role] for s in inside if role in s[1]]
            if len(points) >= 2:
                out[role] = (points[-1][0] - points[0][0], max(p[1] for p in points))
        return out


_KNOT_DONE = re.compile(r"\[([^\]]+)\] (AXFR|IXFR), incoming, .*finished, [\d.]+ seconds, (\d+) messages, (\d+) bytes")
_BIND_LINE = re.compile(r"transfer of '([^/']+)/IN' from \S+: (.*)")
_BIND_DONE = re.compile(r"Transfer completed: (\d+) messages, (\d+) records, (\d+) bytes")


def transfers(secondary, since: int) -> tuple[list[tuple[str, str, int]], int]:
    """The incoming transfers of member zones a secondary logged after its log_mark
    `since`, as (zone, "IXFR"|"AXFR", bytes), and the mark for the next phase. The kind
    is read as secondaries.py reads it (named runs at debug level 3 for this)."""
    mark = secondary.log_mark()
    with open(secondary.log_path, "rb") as f:
        f.seek(since)
        tail = f.read(mark - since).decode(errors="replace")
    done = []
    if secondary.kind == "knotd":
        done = [(m.group(1), m.group(2), int(m.group(4))) for m in _KNOT_DONE.finditer(tail)]
    else:
        kind_of = {}
        for m in _BIND_LINE.finditer(tail):
            zone, what = m.group(1) + ".", m.group(2)
            if "got nonincremental response" in what:
                kind_of[zone] = "AXFR"
            elif "got incremental response" in what:
                kind_of[zone] = "IXFR"
            elif (c := _BIND_DONE.search(what)):
                done.append((zone, kind_of.pop(zone, "AXFR"), int(c.group(3))))
    return [d for d in done if d[0].lower() != CATALOG], mark


_KDIG_RECEIVED = re.compile(r";; Received (\d+) B \((\d+) messages?, (\d+) records?\)")


def check_unannounced(run: Run, port: int, secs: dict, names: list[str]) -> None:
    """For zones whose serial did not move in the mass change: does the primary serve
    another TXT than a secondary under the same serial? Then the change was never
    announced (RFC 1996 and 1995 key everything on the serial) and the secondary keeps
    the old id until the zone's next change."""
    if not names:
        return
    primary_txt = dnsdata.fetch(HOST, port, names, qtype=16, timeout_s=60)
    primary_soa = serials(port, names, 60)
    for kind, sec in secs.items():
        sec_txt = dnsdata.fetch(HOST, sec.port, names, qtype=16, timeout_s=60)
        sec_soa = serials(sec.port, names, 60)
        stale = [n for n in names if n in primary_soa and n in sec_soa and primary_soa[n][0] == sec_soa[n][0]
                 and dnsdata.served_id(primary_txt.get(n)) != dnsdata.served_id(sec_txt.get(n))]
        if stale:
            n = stale[0]
            run.notes.append(
                f"mass change: {len(stale)} zones changed their TXT without a new serial: {kind} serves the old "
                f"id under the primary's serial, e.g. {n} serial {primary_soa[n][0]}: primary "
                f"`{dnsdata.served_id(primary_txt.get(n))}`, {kind} `{dnsdata.served_id(sec_txt.get(n))}`")


def ixfr_probe(port: int, key, names: list[str], old_serials: dict[str, int], keep: str) -> dict | None:
    """IXFR of each name from its serial before the mass change, asked with the real kdig
    (TSIG-signed, over TCP): the bytes the primary sends for one changed zone, TSIG
    included, and whether each answer was incremental (RFC 1995: the new SOA, then the
    old SOA opening the first difference) rather than the whole zone."""
    sizes, counts, incremental = [], [], 0
    for name in names:
        records, text = secondaries.axfr((HOST, port), name, key, rtype="IXFR", serial=old_serials[name])
        m = _KDIG_RECEIVED.search(text)
        if not m:
            continue
        if not sizes:
            with open(keep, "w") as f:   # one answer kept for a look (kdig's text)
                f.write(text)
        sizes.append(int(m.group(1)))
        counts.append(int(m.group(3)))
        if len(records) >= 2 and records[1][3] == "SOA":
            incremental += 1
    if not sizes:
        return None
    return {"zones": len(sizes), "bytes": sum(sizes) / len(sizes), "records": sum(counts) / len(counts),
            "incremental": incremental}


# --- one primary, one data set ----------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    """The figures of one primary on one data set (filled phase by phase)."""

    def __init__(self, primary: str, count: int, stall_s: float):
        self.primary, self.count, self.stall_s = primary, count, stall_s
        self.phases: dict[str, dict] = {}
        self.notes: list[str] = []


_COMPLAINT = re.compile(r"(error|warning|failure|failed|refused)", re.I)
_ABOUT_TRANSFERS = re.compile(r"(refresh|transfer|xfr|notify|catalog)", re.I)


def last_complaint(secondary) -> str | None:
    """The last error or warning line a secondary logged (debug lines skipped), trimmed."""
    try:
        with open(secondary.log_path, "rb") as f:
            f.seek(max(0, secondary.log_mark() - 4_000_000))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    complaints = [line for line in lines
                  if "debug" not in line and "not authoritative" not in line and _COMPLAINT.search(line)]
    about_transfers = [line for line in complaints if _ABOUT_TRANSFERS.search(line)]
    return (about_transfers or complaints or [""])[-1].strip()[:300] or None


def measure_phase(run: Run, phase: str, secs: dict, targets: dict[str, int], t0: float, limit_s: float,
                  sampler: Sampler, log_marks: dict, change_s: float | None = None,
                  primary_port: int | None = None) -> dict[str, float]:
    """Waits (one thread per secondary, and one for the primary when `primary_port` is
    given) until each serves every target serial; records the times, the CPU and PSS, and
    the transfers logged. Returns the names the primary served changed (when polled)."""
    seen: dict[str, dict[str, float]] = {}
    ports = {k: s.port for k, s in secs.items()}
    if primary_port is not None:
        ports["primary"] = primary_port
    progress = {"at": t0}
    threads = [threading.Thread(target=lambda k=k, p=p: seen.__setitem__(
                   k, wait_serials(p, targets, t0, limit_s, run.stall_s, progress)))
               for k, p in ports.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limit_s + 60)
    t1 = time.monotonic()
    figures = {"zones": len(targets), "change_s": change_s, "limit_s": limit_s, "secondaries": {},
               "resources": sampler.window(t0, t1)}
    if primary_port is not None:
        times = list(seen.get("primary", {}).values())
        figures["primary_served"] = {
            "served": len(times), "p50": percentile(times, 0.5) if times else None,
            "p99": percentile(times, 0.99) if times else None,
            "all": max(times) if len(times) == len(targets) else None}
    for kind, s in secs.items():
        times = list(seen.get(kind, {}).values())
        done, log_marks[kind] = transfers(s, log_marks[kind])
        ixfr = [b for _, k, b in done if k == "IXFR"]
        figures["secondaries"][kind] = {
            "served": len(times),
            "p50": percentile(times, 0.5) if times else None,
            "p99": percentile(times, 0.99) if times else None,
            "all": max(times) if len(times) == len(targets) else None,
            "ixfr": len(ixfr), "axfr": sum(1 for _, k, _ in done if k == "AXFR"),
            "ixfr_bytes": sum(ixfr) / len(ixfr) if ixfr else None,
        }
        if len(times) < len(targets):
            run.notes.append(f"{phase}: {kind} served {len(times)} of {len(targets)} zones when the wait ended "
                             f"({limit_s:.0f}s limit, or {run.stall_s:.0f}s without a zone coming in anywhere)"
                             + (f"; its last complaint: `{why}`" if (why := last_complaint(s)) else ""))
        log(f"  {phase}: {kind} serves {len(times)}/{len(targets)}"
            + (f", all after {max(times):.2f}s" if len(times) == len(targets) else "")
            + f"; {len(ixfr)} IXFR, {figures['secondaries'][kind]['axfr']} AXFR")
    run.phases[phase] = figures
    return seen.get("primary", {})


def steady_phase(run: Run, primary, secs: dict, args, sampler: Sampler, log_marks: dict) -> None:
    """Spread rotations for args.steady seconds; the lag of every change seen on a watched
    sample of zones, per secondary: from the change (Knot: the driver's reload; stsd: the
    rotation instant, which is the new serial, a Unix time) to the first answer with it."""
    count = primary.count
    rng = random.Random(11)
    watched_idx = rng.sample(range(count), min(count, args.watch))
    watched = [dnsdata.owner(i) for i in watched_idx]
    changed_at: dict[str, float] = {}   # name -> wall time of the driver's reload (Knot)
    stop = threading.Event()

    def drive_knot():
        order = list(range(count))
        rng.shuffle(order)
        step, nxt, k = 0.25, time.monotonic(), 0
        for _ in range(int(args.steady / step) + 1):
            if stop.is_set():
                break
            batch = [order[(k + j) % count] for j in range(max(1, round(args.rate * step)))]
            k += len(batch)
            when = time.time()
            primary.rotate(batch)
            for i in batch:
                changed_at[dnsdata.owner(i)] = when
            nxt += step
            time.sleep(max(0.0, nxt - time.monotonic()))

    lags: dict[str, list[float]] = {k: [] for k in secs}
    pass_times: dict[str, list[float]] = {k: [] for k in secs}
    t_start_wall, t0 = time.time(), time.monotonic()
    end = t0 + args.steady + args.settle

    def watch(kind: str, port: int):
        last = {n: s for n, (s, _) in serials(port, watched, 30).items()}
        for _ in range(1_000_000):
            if time.monotonic() >= end:
                break
            p0 = time.monotonic()
            now = serials(port, watched, max(1.0, end - p0))
            wall_minus_mono = time.time() - time.monotonic()
            for name, (serial, at) in now.items():
                if name in last and serial != last[name]:
                    seen_wall = at + wall_minus_mono
                    if isinstance(primary, KnotFilesPrimary):
                        start = changed_at.get(name)
                    else:
                        start = float(serial) if serial >= t_start_wall else None
                    if start is not None and start >= t_start_wall:
                        lags[kind].append(seen_wall - start)
                last[name] = serial
            pass_times[kind].append(time.monotonic() - p0)
            time.sleep(max(0.0, 0.05 - (time.monotonic() - p0)))

    threads = [threading.Thread(target=watch, args=(k, s.port)) for k, s in secs.items()]
    if isinstance(primary, KnotFilesPrimary):
        threads.append(threading.Thread(target=drive_knot))
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.steady + args.settle + 120)
    stop.set()
    t1 = time.monotonic()
    figures = {"seconds": args.steady, "rate": args.rate, "watched": len(watched), "secondaries": {},
               "resources": sampler.window(t0, t1)}
    if isinstance(primary, StsdPrimary):
        figures["rotation"] = f"{primary.rotation_s}s"
    for kind, s in secs.items():
        done, log_marks[kind] = transfers(s, log_marks[kind])
        ixfr = [b for _, k, b in done if k == "IXFR"]
        values = lags[kind]
        figures["secondaries"][kind] = {
            "changes": len(values),
            "p50": percentile(values, 0.5) if values else None,
            "p99": percentile(values, 0.99) if values else None,
            "max": max(values) if values else None,
            "resolution": sum(pass_times[kind]) / len(pass_times[kind]) if pass_times[kind] else None,
            "ixfr": len(ixfr), "axfr": sum(1 for _, k, _ in done if k == "AXFR"),
            "ixfr_bytes": sum(ixfr) / len(ixfr) if ixfr else None,
        }
        log(f"  steady: {kind}: {len(values)} changes seen, p50 "
            + (f"{figures['secondaries'][kind]['p50']:.2f}s" if values else "-"))
    run.phases["steady"] = figures


def run_primary(args, kind: str, count: int) -> Run:
    run = Run(kind, count, args.stall)
    key = secondaries.TsigKey.generate("xfr-key")
    work = os.path.join(args.work, f"{kind}-{count}")
    knot_port, bind_port = free_port(), free_port()
    notify = [(HOST, knot_port), (HOST, bind_port)]
    primary = (KnotFilesPrimary if kind == "knot" else StsdPrimary)(
        os.path.join(work, "primary"), count, key, notify, args)
    secs: dict = {}
    sampler = None
    names = [dnsdata.owner(i) for i in range(count)]
    try:
        log(f"{kind} primary: {count} zones")
        t0 = time.monotonic()
        primary.start()
        before = primary_serials(primary.port, names, args.limit)
        run.load_s = time.monotonic() - t0
        run.version = primary.version
        run.change_command = primary.change_command
        for sec_kind, cls, port in (("knotd", secondaries.KnotSecondary, knot_port),
                                    ("named", secondaries.BindSecondary, bind_port)):
            d = os.path.join(work, sec_kind)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            secs[sec_kind] = cls((HOST, primary.port), key, CATALOG, port=port, workdir=d)
        sampler = Sampler({"primary": primary.pid})
        log_marks = {k: 0 for k in secs}
        t0 = time.monotonic()
        for s in secs.values():
            s.start()
        for k, s in secs.items():
            sampler.pids[k] = s.proc.pid
        measure_phase(run, "provision", secs, before, t0, args.limit, sampler, log_marks)
        catalog, _ = secondaries.axfr((HOST, primary.port), CATALOG, key)
        run.catalog_members = sum(1 for r in catalog if r[3] == "PTR")

        log(f"{kind} primary: changing all {count} zones at once")
        # Read again: stsd's zones rotated during the provision (rotation is on), and the
        # IXFR probe below must ask from the serial that preceded this change alone.
        before = primary_serials(primary.port, names, args.limit)
        t0 = time.monotonic()
        primary.change_all()
        change_s = time.monotonic() - t0
        # Any serial after the one before the change (RFC 1982) shows the change; the
        # primary itself is polled too, since applying the change is part of the delay.
        targets = {n: (s + 1) % 2**32 for n, s in before.items()}
        served_by_primary = measure_phase(run, "mass change", secs, targets, t0, args.limit, sampler, log_marks,
                                          change_s, primary_port=primary.port)
        check_unannounced(run, primary.port, secs, [n for n in names if n not in served_by_primary])
        run.ixfr_probe = ixfr_probe(primary.port, key, sorted(served_by_primary)[:IXFR_PROBES], before,
                                    os.path.join(work, "ixfr-example.txt"))

        if args.steady > 0:
            log(f"{kind} primary: steady rotations, {args.rate:g}/s for {args.steady}s")
            steady_phase(run, primary, secs, args, sampler, log_marks)
        if sampler.samples:
            run.peak_pss = {role: max((s[1][role][1] for s in sampler.samples if role in s[1]), default=None)
                            for role in sampler.pids}
    except Exception as e:   # the run of one primary fails alone; the report says why
        run.notes.append(f"run stopped: {type(e).__name__}: {str(e)[:600]}")
        log(f"{kind} primary: {e}")
    finally:
        if sampler:
            sampler.stop()
        for s in secs.values():
            s.stop()
        primary.stop()
    return run


# --- report ---------------------------------------------------------------------------

def fmt(value, unit="s", digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f} {unit}".strip()


def ratio(stsd_value, knot_value) -> str:
    if stsd_value is None or knot_value is None or knot_value <= 0:
        return "–"
    return f"{stsd_value / knot_value:.2f}×"


def verdict(stsd_value, knot_value) -> str:
    """The target: secondaries of stsd are served no later than those of the Knot primary
    on the same machine in the same run, give or take one second (stsd compares serials
    once a second, `poll: 1s`, where Knot reacts to a reload at once)."""
    if stsd_value is None or knot_value is None:
        return "not measured"
    return "met" if stsd_value <= knot_value + 1.0 else "not met"


def render(report: dict, args) -> str:
    lines = [f"# Zone transfers to Knot and BIND secondaries: stsd against a Knot primary ({report['date']:%Y-%m-%d})",
             ""]
    lines += [f"`bench/xfr/run.sh {' '.join(args.argv)}`".replace(" `", "`"), "",
              f"Machine: {report['machine']}; load average {report['load_before']} before, "
              f"{report['load_after']} after (other work shared the cores).",
              f"Versions: {'; '.join(report['versions'])}.", "",
              "Zones `_mta-sts.dom<i>.example.` (SOA, 2 NS, one TXT) listed in a catalog zone (RFC 9432 v2); "
              "a knotd and a named secondary (docs/secondaries/ configs) consume the catalog, every transfer "
              "and NOTIFY signed (TSIG hmac-sha256). Times run from the change to the first answer with the "
              "new serial (p50, p99 and all zones); *provision* from the secondaries' start. The Knot primary "
              "serves the same zones from files (bench/README.md). Target: the secondaries of stsd serve a "
              "change no later than those of the Knot primary, give or take 1 s (stsd compares serials once "
              "a second).", ""]
    if report.get("no_stsd"):
        lines += [f"stsd not run: {report['no_stsd']}.", ""]
    for count, runs in report["runs"].items():
        lines += [f"## {count:,} zones", ""]
        by = {r.primary: r for r in runs}
        members = [f"{r.primary} {r.catalog_members:,}" for r in runs if getattr(r, "catalog_members", None)]
        if members:
            lines += [f"Catalog members (zones each secondary provisions; the times below are for the "
                      f"{count:,} `_mta-sts` zones): {', '.join(members)}.", ""]
        for r in runs:
            for note in r.notes:
                lines.append(f"- **{r.primary}**: {note}")
        if any(r.notes for r in runs):
            lines.append("")
        for phase in ("provision", "mass change"):
            lines += [f"### {phase}", "",
                      "| primary | secondary | served | p50 | p99 | all | IXFR | AXFR | bytes/IXFR |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in runs:
                f = r.phases.get(phase)
                if not f:
                    lines.append(f"| {r.primary} | – | not run | | | | | | |")
                    continue
                if f.get("primary_served"):
                    s = f["primary_served"]
                    lines.append(f"| {r.primary} | (the primary itself) | {s['served']}/{f['zones']} | "
                                 f"{fmt(s['p50'])} | {fmt(s['p99'])} | {fmt(s['all'])} | | | |")
                for kind, s in f["secondaries"].items():
                    lines.append(f"| {r.primary} | {kind} | {s['served']}/{f['zones']} | {fmt(s['p50'])} | "
                                 f"{fmt(s['p99'])} | {fmt(s['all'])} | {s['ixfr']} | {s['axfr']} | "
                                 f"{fmt(s['ixfr_bytes'], 'B', 0)} |")
            lines.append("")
            if "stsd" in by and "knot" in by and phase in by["stsd"].phases and phase in by["knot"].phases:
                for kind in SECONDARY_KINDS:
                    a = by["stsd"].phases[phase]["secondaries"].get(kind, {}).get("all")
                    b = by["knot"].phases[phase]["secondaries"].get(kind, {}).get("all")
                    lines.append(f"- {kind}: all zones served after stsd / Knot = {ratio(a, b)} ({verdict(a, b)})")
                lines.append("")
        lines += ["IXFR of one changed zone from the primary, asked with kdig (TSIG included): " + "; ".join(
            f"{r.primary} {fmt(r.ixfr_probe['bytes'], 'B', 0)}, {r.ixfr_probe['records']:.1f} records "
            f"({r.ixfr_probe['incremental']} of {r.ixfr_probe['zones']} incremental)"
            if getattr(r, "ixfr_probe", None) else f"{r.primary} –"
            for r in runs), ""]
        lines += ["### steady rotations", "",
                  "| primary | secondary | changes seen | lag p50 | lag p99 | lag max | poll pass | IXFR | AXFR | bytes/IXFR |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            f = r.phases.get("steady")
            if not f:
                lines.append(f"| {r.primary} | – | not run | | | | | | | |")
                continue
            for kind, s in f["secondaries"].items():
                lines.append(f"| {r.primary} | {kind} | {s['changes']} | {fmt(s['p50'])} | {fmt(s['p99'])} | "
                             f"{fmt(s['max'])} | {fmt(s['resolution'])} | {s['ixfr']} | {s['axfr']} | "
                             f"{fmt(s['ixfr_bytes'], 'B', 0)} |")
        lines.append("")
        if "stsd" in by and "knot" in by and "steady" in by["stsd"].phases and "steady" in by["knot"].phases:
            for kind in SECONDARY_KINDS:
                a = by["stsd"].phases["steady"]["secondaries"].get(kind, {}).get("p99")
                b = by["knot"].phases["steady"]["secondaries"].get(kind, {}).get("p99")
                lines.append(f"- {kind}: rotation lag p99 stsd / Knot = {ratio(a, b)} ({verdict(a, b)})")
            lines.append("")
        lines += ["### primary's CPU and memory", "",
                  "| primary | start (serves all) | mass change command | CPU provision | CPU mass change | CPU steady | peak PSS |",
                  "|---|---|---|---|---|---|---|"]
        for r in runs:
            res = {p: r.phases.get(p, {}).get("resources", {}).get("primary") for p in ("provision", "mass change", "steady")}
            change = r.phases.get("mass change", {}).get("change_s")
            lines.append(f"| {r.primary} | {fmt(getattr(r, 'load_s', None))} | {fmt(change)} | "
                         + " | ".join(fmt(v[0] if v else None, "s CPU") for v in res.values())
                         + f" | {fmt((getattr(r, 'peak_pss', {}) or {}).get('primary'), 'MiB', 0)} |")
        lines.append("")
        lines += ["Secondaries' CPU (provision / mass change / steady) and peak PSS: " + "; ".join(
            f"{r.primary} primary: " + ", ".join(
                f"{k} " + " / ".join(fmt((r.phases.get(p, {}).get("resources", {}).get(k) or (None,))[0], "s", 1)
                                     for p in ("provision", "mass change", "steady"))
                + f", {fmt((getattr(r, 'peak_pss', {}) or {}).get(k), 'MiB', 0)}" for k in SECONDARY_KINDS)
            for r in runs), ""]
    return "\n".join(lines)


def machine_facts() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{bench._cpu_model()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, {platform.system()} {platform.release()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="stsd build dir (bin/stsd, bin/stsctl)")
    ap.add_argument("--work", help="scratch dir (default BUILD/xfr-bench-work)")
    ap.add_argument("--quick", action="store_true", help="1,000 zones, 20 s of steady rotations (under 3 minutes)")
    ap.add_argument("--sizes", help="comma-separated zone counts (default 1000,100000; --quick: 1000)")
    ap.add_argument("--primaries", default="knot,stsd", help="primaries to run, in order (knot,stsd)")
    ap.add_argument("--rate", type=float, help="steady rotations per second (default max(10, N/1000))")
    ap.add_argument("--steady", type=int, help="seconds of steady rotations (default 60; --quick 20; 0 skips)")
    ap.add_argument("--settle", type=int, default=10, help="seconds watched after the last rotation")
    ap.add_argument("--watch", type=int, default=3000, help="zones watched during steady rotations")
    ap.add_argument("--limit", type=float, help="seconds each phase may take (default 1200; --quick 60)")
    ap.add_argument("--stall", type=float, help="seconds a wait goes on without any zone coming in (default 120; "
                                                 "--quick 20)")
    ap.add_argument("--workers", type=int, default=2, help="stsd workers")
    ap.add_argument("--results-dir", default=os.path.join(SOURCE_DIR, "bench", "results"))
    ap.add_argument("--no-results-file", action="store_true", help="print the report only")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    args.argv = [a for i, a in enumerate(args.argv) if a != "--build-dir" and (i == 0 or args.argv[i - 1] != "--build-dir")]
    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "1000,100000")).split(",")]
    args.steady = args.steady if args.steady is not None else (20 if args.quick else 60)
    args.limit = args.limit or (60 if args.quick else 1200)
    args.stall = args.stall or (20 if args.quick else 120)
    args.work = os.path.abspath(args.work or os.path.join(args.build_dir, "xfr-bench-work"))
    args.bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    primaries = [p for p in args.primaries.split(",") if p]
    # Sized for tests of a few zones; a server reading 100,000 zones' configuration (Knot
    # parses every zone's section before it answers) or stopping with them needs longer.
    secondaries.START_TIMEOUT = max(secondaries.START_TIMEOUT, args.limit)
    secondaries.STOP_TIMEOUT = max(secondaries.STOP_TIMEOUT, 120)
    missing = secondaries.missing_tool()
    if missing:
        print(f"xfr bench: {missing} is not installed (scripts/deps.sh installs knot and bind9)", file=sys.stderr)
        return 2
    report = {"date": datetime.datetime.now(datetime.timezone.utc), "runs": {}, "machine": machine_facts(),
              "load_before": open("/proc/loadavg").read().split()[:3], "versions": []}
    report["load_before"] = " / ".join(report["load_before"])
    for tool, cmd in (("knotd", ["knotd", "--version"]), ("named", ["named", "-v"])):
        report["versions"].append(bench._first_line(cmd))
    if "stsd" in primaries:
        for exe in ("stsd", "stsctl"):
            if not os.access(os.path.join(args.bin_dir, exe), os.X_OK):
                log(f"stsd side not run: {args.bin_dir}/{exe} was not built")
                primaries.remove("stsd")
                report["no_stsd"] = f"{args.bin_dir}/{exe} was not built"
                break
    for count in sizes:
        saved_rate = args.rate
        args.rate = args.rate or max(10.0, count / 1000)
        report["runs"][count] = [run_primary(args, kind, count) for kind in primaries]
        args.rate = saved_rate
    report["load_after"] = " / ".join(open("/proc/loadavg").read().split()[:3])
    for r in report["runs"].get(sizes[0], []):
        if r.primary == "stsd" and getattr(r, "version", None):
            report["versions"].append(r.version)
    text = render(report, args)
    print(text)
    if not args.no_results_file:
        log(f"wrote {bench.write_results(args.results_dir, report['date'], 'xfr', args.quick, text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
