#!/usr/bin/env python3
"""Side-by-side benchmark of stsd against Knot DNS and NSD (issue 6). Run it through
bench/run.sh, which installs the tools and builds stsd first; see bench/README.md.

What one run does, per data set (N domains):
  1. stsd: a fresh store, `stsctl import FILE.csv --confirm-now --reason bench`, then a
     restart timed from exec to the first correct answer (start-up from the store);
  2. the ids stsd serves are read back over DNS and written, at the identical names, into
     one zone file for the peers, which are started and timed the same way;
  3. for every query mix (all hits / 10% NXDOMAIN) and transport (UDP / TCP with
     persistent connections), every server is measured with dnsperf, alternating the
     servers over several rounds; the server's CPU time comes from /proc/<pid>/stat of
     its process tree, latency from dnsperf -v (one line per response);
  4. a sample of stsd's answers is checked during the load (id format, AA, rcode) and
     compared with the peers' answers to the same questions (same bytes on the wire).
Every process this script starts is stopped by its PID on exit (normal, error or signal).
Traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import atexit
import collections
import datetime
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsdata  # noqa: E402

HOST = "127.0.0.1"   # loopback only, by design
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- processes --------------------------------------------------------------------------

_started: list[subprocess.Popen] = []


def start_process(cmd: list[str], log_path: str, env: dict | None = None) -> subprocess.Popen:
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    log.close()
    _started.append(proc)
    return proc


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL by PID after `grace_s`; reaps the child."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except ProcessLookupError:
            pass
    if proc in _started:
        _started.remove(proc)


_running_servers: list = []   # Server objects with a running process


def stop_all() -> None:
    for server in list(reversed(_running_servers)):
        server.stop()
    for proc in list(reversed(_started)):
        stop_process(proc, grace_s=5.0)


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def _become_subreaper() -> None:
    """Orphans of the servers (NSD's forked processes outlive their parent for a moment
    at shutdown) become our children, so that we can stop and reap them by PID instead
    of leaving them to init."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def stop_leftovers(pids: list[int]) -> None:
    """Kills (by PID) the processes of a stopped server's tree that are still running
    as our children, then reaps every finished child that is not a Popen we track."""
    me = os.getpid()
    for p in pids:
        fields = _stat_fields(p)
        if fields and fields[0] != "Z" and int(fields[1]) == me:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    tracked = {proc.pid for proc in _started}
    deadline = time.monotonic() + 5
    for p in pids:
        if p in tracked:
            continue
        while time.monotonic() < deadline:
            fields = _stat_fields(p)
            if not fields or int(fields[1]) != me:
                break
            try:
                if os.waitpid(p, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.02)


_become_subreaper()
atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (NSD forks its server processes)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children[int(fields[1])].append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime (all threads) summed over the process tree."""
    ticks = 0
    for p in process_tree(pid):
        fields = _stat_fields(p)
        if fields:
            ticks += int(fields[11]) + int(fields[12])   # stat fields 14 and 15
    return ticks / CLK_TCK


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS of the main process, sum of PSS over the tree) in MiB. For one process the
    two agree up to shared libraries; for a forking server (NSD) PSS does not count the
    pages the processes share several times over."""
    rss_kib = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kib = int(line.split()[1])
    except OSError:
        pass
    pss_kib = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss_kib += int(line.split()[1])
        except OSError:
            pass
    return rss_kib / 1024, pss_kib / 1024


def git_commit() -> str:
    """The source tree's short commit, for results files ("?" outside a checkout)."""
    try:
        return subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def write_results(results_dir: str, date, name: str, quick: bool, text: str) -> str:
    """Writes bench/results/<date>-<name>[-quick].md and returns its path."""
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, f"{date:%Y-%m-%d}-{name}{'-quick' if quick else ''}.md")
    with open(path, "w") as f:
        f.write(text + "\n")
    return path


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# --- servers ----------------------------------------------------------------------------

class Server:
    name = "?"
    peer = True

    def __init__(self, port: int, workdir: str, workers: int):
        self.port = port
        self.workdir = dnsdata.ensure_dir(workdir)
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.load_s: float | None = None
        self.rss_mib: float | None = None
        self.pss_mib: float | None = None
        self.version = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict | None:
        return None

    def start(self, probe_name: str, timeout_s: float) -> None:
        """Starts the server and times exec -> first NOERROR answer for `probe_name`."""
        t0 = time.monotonic()
        self.proc = start_process(self.command(), os.path.join(self.workdir, "server.log"), self.env())
        _running_servers.append(self)
        ready = dnsdata.wait_for_answer(HOST, self.port, probe_name, timeout_s, lambda: self.proc.poll() is None)
        if ready is None:
            log_tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"{self.name} did not answer {probe_name} within {timeout_s:.0f}s:\n{log_tail}")
        self.load_s = ready - t0
        time.sleep(1.0)   # let the load settle (freed parse buffers) before reading memory
        self.rss_mib, self.pss_mib = memory_mib(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            tree = process_tree(self.proc.pid)
            stop_process(self.proc)
            stop_leftovers(tree[1:])
            self.proc = None
        if self in _running_servers:
            _running_servers.remove(self)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


class Knot(Server):
    name = "knot"

    def prepare(self, zone_path: str) -> None:
        w = self.workdir
        for sub in ("run", "db", "zones"):
            shutil.rmtree(os.path.join(w, sub), ignore_errors=True)
            os.makedirs(os.path.join(w, sub))
        os.link(zone_path, os.path.join(w, "zones", dnsdata.PARENT_ZONE + "zone"))
        with open(os.path.join(w, "knot.conf"), "w") as f:
            f.write(f"""server:
    rundir: "{w}/run"
    listen: {HOST}@{self.port}
    udp-workers: {self.workers}
    tcp-workers: {self.workers}
    background-workers: 1
database:
    storage: "{w}/db"
log:
  - target: stderr
    any: notice
template:
  - id: default
    storage: "{w}/zones"
    file: "%s.zone"
    semantic-checks: off
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: {dnsdata.PARENT_ZONE}
""")
        self.version = _first_line(["knotd", "--version"])

    def command(self):
        return ["knotd", "-c", os.path.join(self.workdir, "knot.conf")]


class Nsd(Server):
    name = "nsd"

    def prepare(self, zone_path: str) -> None:
        w = self.workdir
        zone_file = os.path.join(w, dnsdata.PARENT_ZONE + "zone")
        for stale in (zone_file, os.path.join(w, "zone.list"), os.path.join(w, "xfrd.state")):
            if os.path.exists(stale):
                os.unlink(stale)
        os.link(zone_path, zone_file)
        # RRL is on by default in Debian's NSD and would drop most of a benchmark's
        # NXDOMAIN answers; minimal-responses keeps NSD from adding the apex NS set to
        # every answer, so that it sends the same bytes as stsd and Knot.
        with open(os.path.join(w, "nsd.conf"), "w") as f:
            f.write(f"""server:
    server-count: {self.workers}
    ip-address: {HOST}@{self.port}
    reuseport: yes
    minimal-responses: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    zonesdir: "{w}"
    pidfile: "{w}/nsd.pid"
    database: ""
    zonelistfile: "{w}/zone.list"
    xfrdfile: "{w}/xfrd.state"
    xfrdir: "{w}"
    username: ""
    chroot: ""
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: {dnsdata.PARENT_ZONE}
    zonefile: {dnsdata.PARENT_ZONE}zone
""")
        self.version = _first_line(["nsd", "-v"])

    def command(self):
        return ["nsd", "-d", "-c", os.path.join(self.workdir, "nsd.conf")]


class Stsd(Server):
    name = "stsd"
    peer = False

    def __init__(self, port, workdir, workers, bin_dir, plugins_yaml: str = "", top_yaml: str = ""):
        """`plugins_yaml`: more plugins for the server block, beside mtasts (YAML at the
        indentation of `mtasts:`); `top_yaml`: more top-level keys (bench/protections)."""
        super().__init__(port, workdir, workers)
        self.bin_dir = bin_dir
        self.socket = os.path.join(self.workdir, "stsd.sock")
        self.clock_offset_file = os.path.join(self.workdir, "clock-offset")
        self.config_path = os.path.join(self.workdir, "stsd.yaml")
        self.plugins_yaml = plugins_yaml
        self.top_yaml = top_yaml
        self.import_s: float | None = None

    def prepare(self) -> None:
        """An empty store and the config."""
        shutil.rmtree(os.path.join(self.workdir, "stsd.db"), ignore_errors=True)
        self.write_config()

    def write_config(self) -> None:
        w = self.workdir
        with open(self.clock_offset_file, "w") as f:
            f.write("0\n")
        with open(self.config_path, "w") as f:
            f.write(f"""storage: {w}/stsd.db
workers: {self.workers}
log_level: warning
admin: {{ socket: {self.socket} }}
{self.top_yaml}servers:
  - listen: ["{HOST}:{self.port}"]
    plugins:
      mtasts:
        nameservers: [{dnsdata.NAMESERVER}]
        hostmaster: {dnsdata.HOSTMASTER}
        ttl: {dnsdata.TTL}
{self.plugins_yaml}""")
        self.version = _first_line([os.path.join(self.bin_dir, "stsd"), "--version"])

    def check_config(self) -> str | None:
        """None when this stsd accepts the config, else its complaint (e.g. a plugin
        that this build does not have)."""
        done = subprocess.run([os.path.join(self.bin_dir, "stsd"), "--check-config", self.config_path],
                              capture_output=True, text=True, timeout=60)
        return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-500:]

    def command(self):
        return [os.path.join(self.bin_dir, "stsd"), "--config", self.config_path]

    def env(self):
        # The store's clock reads this file (src/main/main.cpp); the harness moves it to
        # put a rotation boundary inside the "change" run.
        env = dict(os.environ)
        env["STSD_CLOCK_OFFSET_FILE"] = self.clock_offset_file
        return env

    def start_empty(self, timeout_s: float = 30) -> None:
        """Starts on an empty store and waits for the admin socket and any DNS answer."""
        self.proc = start_process(self.command(), os.path.join(self.workdir, "server.log"), self.env())
        _running_servers.append(self)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and self.proc.poll() is None:
            if os.path.exists(self.socket) and dnsdata.query(HOST, self.port, "_mta-sts.probe.example.", timeout=0.1):
                return
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"stsd did not come up within {timeout_s:.0f}s:\n{tail}")

    def stsctl(self, *args: str, timeout_s: float = 3600) -> subprocess.CompletedProcess:
        cmd = [os.path.join(self.bin_dir, "stsctl"), "--socket", self.socket, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)

    def set_clock_offset(self, seconds: int) -> None:
        tmp = self.clock_offset_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{seconds}\n")
        os.replace(tmp, self.clock_offset_file)


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


# --- dnsperf ----------------------------------------------------------------------------

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


def run_dnsperf(server: Server, query_file: str, transport: str, duration: int, args,
                edns_option: str | None = None, timeout_s: float = 2, outstanding: int | None = None) -> RunResult:
    """`edns_option`: dnsperf -E CODE:HEX, sent in every query (e.g. a DNS cookie);
    `timeout_s`: when a query counts as lost, and `outstanding` (default args.outstanding):
    a server that drops on purpose needs a short timeout and many queries in flight."""
    scratch = "/dev/shm" if os.path.isdir("/dev/shm") else args.work
    out_path = os.path.join(scratch, f"stsd-bench-{os.getpid()}-dnsperf.out")
    cmd = ["dnsperf", "-s", HOST, "-p", str(server.port), "-d", query_file, "-l", str(duration),
           "-e", "-c", str(args.clients), "-q", str(outstanding or args.outstanding), "-t", f"{timeout_s:g}", "-v"]
    if edns_option:
        cmd += ["-E", edns_option]
    if transport == "tcp":
        cmd += ["-m", "tcp"]
        if args.tcp_queries_per_conn:
            cmd += ["-O", f"num-queries-per-conn={args.tcp_queries_per_conn}"]
    result = RunResult()
    result.load = loadavg()
    cpu_before = server.cpu()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _started.append(proc)
        try:
            proc.wait(duration + 30)
        except subprocess.TimeoutExpired:
            pass
        stop_process(proc)
    result.cpu_s = server.cpu() - cpu_before
    try:
        with open(out_path, "rb") as f:
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
    finally:
        os.unlink(out_path)
    if result.completed == 0:
        raise RuntimeError(f"dnsperf got no answers from {server.name}: {' '.join(cmd)}")
    return result


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


# --- correctness ------------------------------------------------------------------------

class Sampler:
    """Checks stsd's answers while dnsperf loads it: hits are NOERROR + AA with exactly one
    `v=STSv1; id=<[A-Za-z0-9]{1,32}>;` TXT; NXDOMAIN names are NXDOMAIN + AA."""

    def __init__(self, port: int, count: int, rng: random.Random):
        self.port = port
        self.domains = [rng.randrange(count) for _ in range(40)]
        self.checked = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> None:
        for k, i in enumerate(self.domains):
            if self._stop.is_set():
                return
            nx = k % 5 == 4
            name = f"nxsample{k}.{dnsdata.owner(i)}" if nx else dnsdata.owner(i)
            r = dnsdata.query(HOST, self.port, name, timeout=2.0)
            self.checked += 1
            if r is None:
                self.failures.append(f"{name}: no answer within 2 s")
            elif not r.authoritative:
                self.failures.append(f"{name}: AA not set")
            elif nx and r.rcode != 3:
                self.failures.append(f"{name}: rcode {r.rcode}, expected NXDOMAIN")
            elif not nx and dnsdata.served_id(r) is None:
                self.failures.append(f"{name}: rcode {r.rcode}, answer {r.txt_strings()} is not one valid MTA-STS TXT")
            time.sleep(0.02)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.check_once, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)


def compare_answers(servers: list[Server], count: int, rng: random.Random, samples: int = 50) -> list[str]:
    """Asks every server the same questions; reports any difference in rcode, AA, answer
    or message size (the peers are meant to send the same bytes as stsd)."""
    problems = []
    for k in range(samples):
        i = rng.randrange(count)
        name = f"nxcmp{k}.{dnsdata.owner(i)}" if k % 5 == 4 else dnsdata.owner(i)
        answers = {s.name: dnsdata.query(HOST, s.port, name, timeout=2.0) for s in servers}
        shapes = {n: (r.rcode, r.authoritative, r.txt_strings(), r.size) if r else None for n, r in answers.items()}
        if len(set(map(repr, shapes.values()))) > 1:
            problems.append(f"{name}: " + "; ".join(f"{n}={v}" for n, v in shapes.items()))
    return problems


# --- the run ----------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prepare_data(args, count: int) -> dict:
    d = dnsdata.ensure_dir(os.path.join(args.work, f"data-{count}"))
    files = {"csv": os.path.join(d, "domains.csv"), "zone": os.path.join(d, "example.zone")}
    total = max(100_000, min(count, 1_000_000))
    for mix, nx in (("hit", 0), ("nx10", 10)):
        files[mix] = os.path.join(d, f"queries-{mix}.txt")
        if not os.path.exists(files[mix]):
            dnsdata.write_queries(files[mix] + ".tmp", count, nx, total)
            os.replace(files[mix] + ".tmp", files[mix])
    if not os.path.exists(files["csv"]):
        dnsdata.write_csv(files["csv"] + ".tmp", count)
        os.replace(files["csv"] + ".tmp", files["csv"])
    return files


def load_stsd(stsd: Stsd, files: dict, count: int, args) -> list[str]:
    """Imports the data set into a fresh store, restarts stsd to time start-up from the
    store, and returns the ids it serves (in domain order)."""
    stsd.prepare()
    stsd.start_empty()
    log(f"stsd: importing {count} domains (stsctl import --confirm-now)")
    t0 = time.monotonic()
    done = stsd.stsctl("import", files["csv"], "--confirm-now", "--reason", "bench")
    stsd.import_s = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"stsctl import failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    stsd.stop()
    log(f"stsd: imported in {stsd.import_s:.1f}s; restarting to time start-up from the store")
    stsd.start(dnsdata.owner(count - 1), timeout_s=args.start_timeout)
    log(f"stsd: first answer after {stsd.load_s:.2f}s, RSS {stsd.rss_mib:.0f} MiB; reading back the served ids")
    names = [dnsdata.owner(i) for i in range(count)]
    answers = dnsdata.fetch(HOST, stsd.port, names,
                                progress=lambda n, t: log(f"  read {n}/{t} ids"))
    ids, bad = [], []
    for name in names:
        ident = dnsdata.served_id(answers.get(name))
        if ident is None:
            bad.append(name)
        ids.append(ident or "")
    if bad:
        raise RuntimeError(f"stsd served no valid MTA-STS TXT for {len(bad)} of {count} names, e.g. {bad[:3]}")
    return ids


def run_size(args, count: int, report: dict) -> None:
    files = prepare_data(args, count)
    rng = random.Random(count)
    servers: list[Server] = []
    stsd = None
    if args.with_stsd:
        stsd = Stsd(args.port_base + 3, os.path.join(args.work, f"stsd-{count}"), args.workers, args.bin_dir)
        ids = load_stsd(stsd, files, count, args)
        servers.append(stsd)
    else:
        ids = dnsdata.synthetic_ids(count)
    dnsdata.write_peer_zone(files["zone"], ids)
    for cls, port in ((Knot, args.port_base + 1), (Nsd, args.port_base + 2)):
        if cls.name not in args.peers:
            continue
        peer = cls(port, os.path.join(args.work, f"{cls.name}-{count}"), args.workers)
        peer.prepare(files["zone"])
        log(f"{peer.name}: loading {count} names")
        peer.start(dnsdata.owner(count - 1), timeout_s=args.start_timeout)
        log(f"{peer.name}: first answer after {peer.load_s:.2f}s, RSS {peer.rss_mib:.0f} MiB, PSS {peer.pss_mib:.0f} MiB")
        servers.append(peer)
    report["servers"].update({s.name: s.version for s in servers})
    report["startup"][count] = {s.name: (s.load_s, s.rss_mib, s.pss_mib, getattr(s, "import_s", None)) for s in servers}
    if len(servers) > 1:
        report["differences"][count] = compare_answers(servers, count, rng)

    for mix in ("hit", "nx10"):
        for transport in ("udp", "tcp"):
            case = (count, mix, transport)
            runs = {s.name: [] for s in servers}
            for rnd in range(args.rounds):
                order = servers[rnd % len(servers):] + servers[: rnd % len(servers)]
                for s in order:
                    sampler = None
                    if s is stsd:
                        sampler = Sampler(s.port, count, rng)
                        sampler.start()
                    r = run_dnsperf(s, files[mix], transport, args.duration, args)
                    if sampler:
                        sampler.stop()
                        report["samples"].append((case, sampler.checked, sampler.failures))
                    runs[s.name].append(r)
                    avg, p99 = hist_stats(r.latency_hist)
                    log(f"{count} {mix} {transport} round {rnd + 1} {s.name}: {r.qps:,.0f} QPS, "
                        f"{r.completed / max(r.cpu_s, 1e-9):,.0f} per CPU-s, p99 {p99 * 1e3:.2f} ms, "
                        f"lost {r.lost}, rcodes {dict(r.rcodes)}, load {r.load:.1f}")
            report["cases"][case] = runs
    if stsd is not None and args.change_run:
        report["change"][count] = change_run(stsd, files, count, args, report["cases"][(count, "hit", "udp")]["stsd"])
    for s in servers:
        s.stop()


def change_run(stsd: Stsd, files: dict, count: int, args, baseline: list[RunResult]) -> dict:
    """One UDP all-hits run during which the id rotates (the store's clock is moved so that
    a period boundary falls mid-run) and a new policy is staged and confirmed."""
    now = time.time()
    boundary = (int(now) // 86400 + 1) * 86400            # next 00:00 UTC (default rotation 1d)
    stsd.set_clock_offset(int(boundary - now - args.duration / 2))
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


def callgrind_figures(args, count: int, names: list[str]) -> dict:
    """User-space instructions per query of each server (bench/callgrind.sh server), on the
    data the run left behind: a figure that background load does not move."""
    figures = {}
    script = os.path.join(SOURCE_DIR, "bench", "callgrind.sh")
    for name in names:
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


# --- the report -------------------------------------------------------------------------

def ratio(value, best, higher_is_better: bool) -> str:
    if value is None or best is None or best == 0 or value != value:
        return "–"
    return f"{value / best:.2f}"


def render(report: dict, args) -> str:
    lines = []
    now = report["date"]
    label = "" if args.with_stsd else " — PEERS ONLY (stsd not measured: " + report["no_stsd_reason"] + ")"
    lines.append(f"# stsd benchmark {now:%Y-%m-%d %H:%M} UTC{label}\n")
    cpu = platform.processor() or _cpu_model()
    lines.append(f"- Machine: {os.cpu_count()} cores ({cpu}), {platform.release()}; "
                 f"dnsperf on the same machine over loopback.")
    lines.append("- Servers: " + "; ".join(f"{k}: {v}" for k, v in report["servers"].items()))
    lines.append(f"- Each server: {args.workers} workers (Knot: udp-workers/tcp-workers {args.workers}, "
                 f"NSD: server-count {args.workers} with reuseport, stsd: workers {args.workers}).")
    tcp_mode = (f"{args.tcp_queries_per_conn} queries per connection" if args.tcp_queries_per_conn
                else "persistent connections (many queries each)")
    lines.append(f"- Load: dnsperf -e -c {args.clients} -q {args.outstanding} -l {args.duration} -v, "
                 f"{args.rounds} round(s) per case alternating the servers; TCP: {tcp_mode}.")
    lines.append("- QPS: median over rounds. QPS/CPU-s: answers completed ÷ server CPU seconds "
                 "(utime+stime of the server's process tree, /proc/<pid>/stat). Latency: from dnsperf -v "
                 "per-response lines, all rounds merged. ×peer: ratio to the best peer "
                 "(higher is better for QPS, lower for latency, memory, start-up).")
    lines.append(f"- Mean load average during runs: {report['mean_load']:.2f} (other work on the machine "
                 "inflates latency and lowers QPS; QPS/CPU-s is the robust figure).\n")

    lines.append("## Start-up and memory\n")
    lines.append("| domains | server | start → first answer (s) | ×peer | memory after load, PSS (MiB) | ×peer | VmRSS main process (MiB) | import (s) |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|---:|")
    for count, entries in report["startup"].items():
        peers = {n: v for n, v in entries.items() if n != "stsd"}
        best_load = min((v[0] for v in peers.values()), default=None)
        best_mem = min((v[2] for v in peers.values()), default=None)
        for name, (load_s, rss, pss, import_s) in entries.items():
            lines.append(f"| {count:,} | {name} | {load_s:.2f} | {ratio(load_s, best_load, False)} | {pss:.0f} | "
                         f"{ratio(pss, best_mem, False)} | {rss:.0f} | {'' if import_s is None else f'{import_s:.1f}'} |")
    lines.append("\nMemory is the PSS summed over the server's process tree (/proc/<pid>/smaps_rollup), "
                 "read 1 s after the first answer: for a single process it is its RSS less its share of "
                 "shared libraries; NSD's forked servers share the zone's pages, which a sum of their RSS "
                 "would count several times. Start-up: exec to the first NOERROR answer for the last name "
                 "loaded (stsd: from the populated store; peers: from the zone file). Import: "
                 "`stsctl import --confirm-now` into an empty store.\n")

    lines.append("## Throughput and latency\n")
    lines.append("| domains | mix | transport | server | QPS | ×peer | QPS/CPU-s | ×peer | avg ms | p99 ms | p99 ×peer | lost |")
    lines.append("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for (count, mix, transport), runs in report["cases"].items():
        stats = {}
        for name, rs in runs.items():
            hist = collections.Counter()
            for r in rs:
                hist.update(r.latency_hist)
            avg, p99 = hist_stats(hist)
            cpu_s = sum(r.cpu_s for r in rs)
            stats[name] = (statistics.median(r.qps for r in rs),
                           sum(r.completed for r in rs) / cpu_s if cpu_s > 0 else float("nan"),
                           avg, p99, sum(r.lost for r in rs))
        peers = {n: v for n, v in stats.items() if n != "stsd"}
        best_qps = max((v[0] for v in peers.values()), default=None)
        best_eff = max((v[1] for v in peers.values()), default=None)
        best_p99 = min((v[3] for v in peers.values()), default=None)
        summary[(count, mix, transport)] = (stats, best_eff, best_p99)
        mix_text = "all hits" if mix == "hit" else "10% NXDOMAIN"
        for name, (qps, eff, avg, p99, lost) in stats.items():
            lines.append(f"| {count:,} | {mix_text} | {transport.upper()} | {name} | {qps:,.0f} | "
                         f"{ratio(qps, best_qps, True)} | {eff:,.0f} | {ratio(eff, best_eff, True)} | "
                         f"{avg * 1e3:.3f} | {p99 * 1e3:.3f} | {ratio(p99, best_p99, False)} | {lost} |")
    lines.append("")

    if report["change"]:
        lines.append("## Rotation and confirmation during load (stsd, UDP, all hits)\n")
        lines.append("| domains | run | QPS | p99 ms | lost | what happened |")
        lines.append("|---:|---|---:|---:|---:|---|")
        for count, ch in report["change"].items():
            base = ch["baseline"]
            hist = collections.Counter()
            for r in base:
                hist.update(r.latency_hist)
            _, p99b = hist_stats(hist)
            lines.append(f"| {count:,} | plain (rounds above) | {statistics.median(r.qps for r in base):,.0f} | "
                         f"{p99b * 1e3:.3f} | {sum(r.lost for r in base)} | |")
            r = ch["result"]
            _, p99c = hist_stats(r.latency_hist)
            ev = ", ".join(f"{k} exit {rc}" for k, rc, _ in ch["events"]) or "no change made"
            before, after = ch["rotated"]
            lines.append(f"| {count:,} | with rotation + confirm | {r.qps:,.0f} | {p99c * 1e3:.3f} | {r.lost} | "
                         f"id {before} → {after}; {ev} |")
        lines.append("")

    if report.get("callgrind"):
        cg = report["callgrind"]
        figures = cg["figures"]
        best = min((v for n, v in figures.items() if n != "stsd" and v), default=None)
        lines.append(f"## Instructions per query (callgrind, {cg['count']:,} domains, UDP, all hits)\n")
        lines.append("User-space instructions of the whole server (every thread and forked process: event "
                     "loop, socket calls, lookup, encoding) divided by the answers, from `bench/callgrind.sh "
                     f"server` ({args.callgrind_queries} queries at 2,000 QPS). Kernel time is not included: "
                     "a server making more system calls per query loses more than this shows.\n")
        lines.append("| server | instructions per query | ×peer |")
        lines.append("|---|---:|---:|")
        for name, value in figures.items():
            lines.append(f"| {name} | {'–' if value is None else f'{value:,}'} | {ratio(value, best, False)} |")
        lines.append("")

    lines.append("## Correctness\n")
    total = sum(c for _, c, _ in report["samples"])
    failures = [f for _, _, fs in report["samples"] for f in fs]
    if args.with_stsd:
        lines.append(f"- stsd under load: {total} sampled answers checked (NOERROR+AA+one `v=STSv1; id=…;` TXT with "
                     f"id [A-Za-z0-9]{{1,32}}, or NXDOMAIN+AA): {len(failures)} failed.")
        for f in failures[:10]:
            lines.append(f"  - {f}")
    for count, diffs in report["differences"].items():
        lines.append(f"- {count:,} domains, same 50 questions to every server (rcode, AA, answer, size): "
                     f"{len(diffs)} differences.")
        for d in diffs[:5]:
            lines.append(f"  - {d}")
    lines.append("")

    if args.with_stsd and summary:
        lines.append("## Targets (issue 6)\n")
        for (count, mix, transport), (stats, best_eff, best_p99) in summary.items():
            s = stats.get("stsd")
            if not s or best_eff is None:
                continue
            eff_ok = s[1] >= 1.2 * best_eff
            p99_ok = s[3] <= best_p99
            lines.append(f"- {count:,} {mix} {transport}: QPS/CPU-s {s[1] / best_eff:.2f}× best peer "
                         f"({'met' if eff_ok else 'NOT met'}, target ≥ 1.20); p99 {s[3] / best_p99:.2f}× "
                         f"({'met' if p99_ok else 'NOT met'}, target ≤ 1.00)")
        for count, entries in report["startup"].items():
            if count < 1_000_000 or "stsd" not in entries or "knot" not in entries:
                continue
            st, kn = entries["stsd"], entries["knot"]
            lines.append(f"- {count:,}: memory {st[2] / kn[2]:.2f}× Knot's ({'met' if st[2] <= 0.5 * kn[2] else 'NOT met'}, "
                         f"target ≤ 0.50); start-up {st[0]:.2f}s vs Knot {kn[0]:.2f}s "
                         f"({'met' if st[0] <= kn[0] else 'NOT met'})")
        lines.append("")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="stsd build dir (bin/stsd, bin/stsctl)")
    ap.add_argument("--work", help="scratch dir for data, stores and configs (default BUILD/bench-work)")
    ap.add_argument("--quick", action="store_true", help="1k domains, 3 s runs, 1 round")
    ap.add_argument("--sizes", help="comma-separated domain counts (default 1000,1000000; --quick: 1000)")
    ap.add_argument("--rounds", type=int, help="rounds per case (default 3; --quick: 1)")
    ap.add_argument("--duration", type=int, help="seconds per dnsperf run (default 15; --quick: 3)")
    ap.add_argument("--peers", default="knot,nsd", help="peers to run (knot,nsd)")
    ap.add_argument("--no-stsd", action="store_true", help="measure the peers only (synthetic ids)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8, help="dnsperf -c (sockets / TCP connections)")
    ap.add_argument("--outstanding", type=int, default=200, help="dnsperf -q")
    ap.add_argument("--tcp-queries-per-conn", type=int, default=0,
                    help="reconnect after N queries (0: keep each connection for the whole run)")
    ap.add_argument("--port-base", type=int, default=5300, help="knot +1, nsd +2, stsd +3")
    ap.add_argument("--start-timeout", type=float, default=300)
    ap.add_argument("--no-change-run", dest="change_run", action="store_false",
                    help="skip the stsd run with a rotation and a confirmation mid-run")
    ap.add_argument("--callgrind-queries", type=int,
                    help="queries per server for the instructions-per-query figure (default 20000; "
                         "--quick: 0 = skip)")
    ap.add_argument("--results-dir", default=os.path.join(SOURCE_DIR, "bench", "results"))
    ap.add_argument("--no-results-file", action="store_true", help="print the table only")
    args = ap.parse_args()

    args.sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "1000,1000000")).split(",")]
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3 if args.quick else 15)
    if args.callgrind_queries is None:
        args.callgrind_queries = 0 if args.quick else 20000
    args.peers = [p for p in args.peers.split(",") if p]
    args.work = os.path.abspath(args.work or os.path.join(args.build_dir, "bench-work"))
    args.bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    dnsdata.ensure_dir(args.work)
    for tool in ["dnsperf"] + [{"knot": "knotd", "nsd": "nsd"}[p] for p in args.peers]:
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed (scripts/deps.sh --bench installs it)", file=sys.stderr)
            return 2

    reason = ""
    if args.no_stsd:
        reason = "--no-stsd"
    else:
        for exe in ("stsd", "stsctl"):
            if not os.access(os.path.join(args.bin_dir, exe), os.X_OK):
                reason = f"{args.bin_dir}/{exe} was not built"
    args.with_stsd = not reason
    if reason:
        log(f"measuring the peers only: {reason}")

    report = {"date": datetime.datetime.now(datetime.timezone.utc), "servers": {}, "startup": {},
              "cases": {}, "samples": [], "differences": {}, "change": {}, "no_stsd_reason": reason}
    for count in args.sizes:
        run_size(args, count, report)
    if args.callgrind_queries:
        report["callgrind"] = callgrind_figures(args, min(args.sizes), list(report["servers"]))
    loads = [r.load for runs in report["cases"].values() for rs in runs.values() for r in rs]
    report["mean_load"] = statistics.mean(loads) if loads else 0.0
    text = render(report, args)
    print(text)
    if not args.no_results_file:
        dnsdata.ensure_dir(args.results_dir)
        suffix = "" if args.with_stsd else "-peers-only"
        path = os.path.join(args.results_dir, f"{report['date']:%Y-%m-%d}{suffix}.md")
        with open(path, "w") as f:
            f.write(text + "\n")
        log(f"wrote {path}")
    failures = [f for _, _, fs in report["samples"] for f in fs]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
