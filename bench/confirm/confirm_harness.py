#!/usr/bin/env python3
"""The confirm-scheduler benchmark (issue 11, item 3): how fast the confirmer probes
100,000 domains x 2 vantages against stsd's own policy host, what that costs in CPU,
and what the confirmer's state costs in memory per domain. Run it through
bench/confirm/run.sh, which builds stsd first; see bench/README.md.

One run:
  1. certificates: a bench CA and one certificate per mta-sts.<domain> (certs.py; cached
     under the work dir, generation timed separately);
  2. a fresh store: `stsctl import domains.csv --confirm-now` (timed), kept as a pristine
     copy; every stsd below runs on a copy of it;
  3. the HOST process: stsd with `policy_host:` listening on 127.0.0.2:P and 127.0.0.3:P
     (the two vantages), every domain's certificate in cert_dir; no confirmer;
  4. the CONFIRMER process: stsd with `confirm:` (vantages = those two addresses, ca_file
     = the bench CA) and `metrics:`, started once on the pristine store (its one-time work
     on a new store done) and then on a fresh copy of that store, once per
     max_concurrent_probes value. Every domain is made due at once (`--drive`: by default
     the test clock moves past every domain's first round once all are watched; `start`
     for a scheduler that makes every domain due when it starts), so it probes all N
     domains x 2 vantages at full tilt. The harness scrapes stsd_confirm_probes_total and
     reads both processes' utime+stime (/proc/PID/stat) every second, until every probe
     is done or the pass's time limit;
  5. the same CONFIRMER config without `confirm:` on a fresh copy: the memory difference
     divided by N is the confirmer's state per domain.
Every process is stopped by its PID on exit (normal, error or signal); traffic stays on
loopback (127.0.0.1-3).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, BENCH_DIR)   # after this folder (certs.py), for bench/harness.py and dnsdata.py
import certs  # noqa: E402
import report as results  # noqa: E402
import dnsdata  # noqa: E402
import harness as bench  # noqa: E402  (process control, CPU and memory readers)

SOURCE_DIR = os.path.dirname(BENCH_DIR)
VANTAGE_ADDRESSES = ("127.0.0.2", "127.0.0.3")
log = bench.log


# --- processes ----------------------------------------------------------------------------

class Role(bench.Stsd):
    """One stsd process of the bench (HOST or CONFIRMER): its own folder, config, store
    copy and DNS port; `sections` is the YAML appended after the DNS server block."""

    def __init__(self, name: str, workdir: str, bin_dir: str, storage: str, sections: str):
        super().__init__(free_port("127.0.0.1"), workdir, 1, bin_dir)
        self.name = name
        self.storage = storage
        self.sections = sections

    def prepare(self) -> None:
        self.set_clock_offset(0)
        with open(os.path.join(self.workdir, "stsd.yaml"), "w") as f:
            f.write(f"""storage: {self.storage}
workers: 1
log_level: warning
admin: {{ socket: {self.socket} }}
servers:
  - listen: ["127.0.0.1:{self.port}"]
    plugins:
      mtasts:
        nameservers: [{dnsdata.NAMESERVER}]
        hostmaster: {dnsdata.HOSTMASTER}
        ttl: {dnsdata.TTL}
{self.sections}""")
        self.version = bench._first_line([os.path.join(self.bin_dir, "stsd"), "--version"])

    def thread_cpu(self) -> dict[int, float]:
        """CPU seconds of each thread of the process, by thread id."""
        result = {}
        task_dir = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(task_dir):
            fields = _task_stat(self.proc.pid, int(tid))
            if fields:
                result[int(tid)] = (int(fields[11]) + int(fields[12])) / bench.CLK_TCK
        return result


def _task_stat(pid: int, tid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def free_port(*addresses: str) -> int:
    """A TCP port free on every one of `addresses` (asked of the kernel on the first)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        try:
            for address in addresses:
                with socket.socket() as s:
                    s.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no free port on {addresses}")


def fetch_policy(address: str, port: int, domain: str, ca_file: str, timeout_s: float = 5) -> str:
    """GET https://mta-sts.<domain>/.well-known/mta-sts.txt from address:port with SNI,
    verified against the bench CA. Returns the body; raises on any failure."""
    host = f"mta-sts.{domain}"
    context = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection((address, port), timeout=timeout_s) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                        .encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{address}:{port} answered {head.splitlines()[0]!r} for {host}")
    return body.decode()


# --- metrics ------------------------------------------------------------------------------

METRIC_LINE = re.compile(r'^(stsd_confirm_[a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def scrape(port: int) -> dict | None:
    """{"probes": {result: n}, "domains": {state: n}} from /metrics, None when not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    probes, domains = {}, {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        label = labels.split('"')[1] if labels else ""
        if name == "stsd_confirm_probes_total":
            probes[label] = int(float(value))
        elif name == "stsd_confirm_domains":
            domains[label] = int(float(value))
    return {"probes": probes, "domains": domains}


# --- the steps ----------------------------------------------------------------------------

def prepare_store(args, files: dict) -> dict:
    """Imports the domains into a fresh store and keeps it as the pristine copy."""
    work = dnsdata.ensure_dir(os.path.join(args.work, "import"))
    pristine = os.path.join(args.work, "pristine.db")
    shutil.rmtree(pristine, ignore_errors=True)
    importer = Role("import", work, args.bin_dir, pristine, "")
    importer.prepare()
    importer.start_empty()
    log(f"importing {args.domains:,} domains (stsctl import --confirm-now)")
    t0 = time.monotonic()
    done = importer.stsctl("import", files["csv"], "--confirm-now", "--reason", "confirm bench")
    import_s = time.monotonic() - t0
    importer.stop()
    if done.returncode != 0:
        raise RuntimeError(f"stsctl import failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return {"path": pristine, "import_s": import_s}


def first_confirmer_start(args, pristine: str, host_port: int, ca_file: str) -> dict:
    """Starts the CONFIRMER once on the pristine store and stops it as soon as it serves:
    the store is then as every later start finds it (the confirmer's one-time work on a
    store it has never seen, such as gating every domain's rotation, is done), so the
    passes measure a restart, not that first start. Returns its PSS at that moment."""
    work = dnsdata.ensure_dir(os.path.join(args.work, "first-start"))
    role = Role("first-start", work, args.bin_dir, pristine, "")
    role.sections = confirmer_sections(args, host_port, free_port("127.0.0.1"), 16, ca_file, role.port)
    role.prepare()
    role.start(dnsdata.owner(args.domains - 1), timeout_s=args.start_timeout)
    rss, pss = bench.memory_mib(role.proc.pid)
    role.stop()
    log(f"first start of the confirmer on the new store: served after {role.load_s:.1f}s, PSS {pss:.0f} MiB")
    return {"ready_s": role.load_s, "pss_mib": pss}


def copy_store(pristine: str, target: str) -> str:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(pristine, target)
    return target


def start_host(args, pristine: str, material: dict) -> tuple[Role, dict]:
    work = dnsdata.ensure_dir(os.path.join(args.work, "host"))
    port = free_port(*VANTAGE_ADDRESSES)
    listen = ", ".join(f'"{a}:{port}"' for a in VANTAGE_ADDRESSES)
    # No per-client limits: every probe comes from the one confirmer on 127.0.0.1.
    host = Role("host", work, args.bin_dir, copy_store(pristine, os.path.join(work, "stsd.db")), f"""policy_host:
  listen: [{listen}]
  cert_dir: {material["cert_dir"]}
  cert_poll: 1h
  threads: {args.host_threads}
  max_connections: 100000
  max_connections_per_client: 100000
  requests_per_second: 0
  access_log: false
""")
    host.prepare()
    t0 = time.monotonic()
    host.start(dnsdata.owner(args.domains - 1), timeout_s=args.start_timeout)
    last = dnsdata.domain(args.domains - 1)
    deadline = t0 + args.start_timeout
    while True:
        try:
            bodies = [fetch_policy(a, port, last, material["ca"]) for a in VANTAGE_ADDRESSES]
            break
        except (OSError, RuntimeError) as error:
            if time.monotonic() > deadline or host.proc.poll() is not None:
                raise RuntimeError(f"the policy host does not serve {last}: {error}\n{host.log_tail()}")
            time.sleep(0.2)
    ready_s = time.monotonic() - t0
    if not all(f"mx: mx1.{last}" in body for body in bodies):
        raise RuntimeError(f"the policy host served an unexpected policy for {last}: {bodies[0]!r}")
    rss, pss = bench.memory_mib(host.proc.pid)
    return host, {"port": port, "ready_s": ready_s, "rss_mib": rss, "pss_mib": pss}


def confirmer_sections(args, host_port: int, metrics_port: int, concurrency: int | None, ca_file: str,
                       dns_port: int) -> str:
    text = f"""metrics:
  listen: 127.0.0.1:{metrics_port}
"""
    if concurrency is None:
        return text
    vantages = ", ".join(f'"{a}:{host_port}"' for a in VANTAGE_ADDRESSES)
    limit = "" if concurrency == 16 else f"  max_concurrent_probes: {concurrency}\n"
    return text + f"""confirm:
  vantages: [{vantages}]
  ca_file: {ca_file}
  resolver: 127.0.0.1:{dns_port}
{limit}"""


@dataclasses.dataclass
class Sample:
    t: float                 # seconds since the CONFIRMER was started
    probes: int              # stsd_confirm_probes_total, all results
    by_result: dict
    domains_probed: int      # domains with at least one round (sum of stsd_confirm_domains)
    confirmer_cpu: float     # utime+stime of the CONFIRMER process
    host_cpu: float          # of the HOST process, since the pass started
    pss_mib: float           # of the CONFIRMER process


def run_pass(args, pristine: str, host: Role, host_port: int, ca_file: str, concurrency: int | None) -> dict:
    """One CONFIRMER process on a fresh store copy. With a concurrency: makes every domain
    due (see `--drive`), probes until all N x 2 probes are done (or the time limit) and
    returns the figures; without (the memory baseline): waits until the store is served
    and returns its memory."""
    name = f"confirm-{concurrency}" if concurrency else "baseline"
    work = dnsdata.ensure_dir(os.path.join(args.work, name))
    metrics_port = free_port("127.0.0.1")
    role = Role(name, work, args.bin_dir, copy_store(pristine, os.path.join(work, "stsd.db")), "")
    role.sections = confirmer_sections(args, host_port, metrics_port, concurrency, ca_file, role.port)
    role.prepare()
    t0 = time.monotonic()
    role.start(dnsdata.owner(args.domains - 1), timeout_s=args.start_timeout)
    if concurrency is None:
        time.sleep(2)
        rss, pss = bench.memory_mib(role.proc.pid)
        role.stop()
        return {"rss_mib": rss, "pss_mib": pss}

    watched = None
    if args.drive == "clock":
        watched = wait_until_watched(args, role, metrics_port, t0)
    base = watched["probes"] if watched else 0
    target = base + 2 * args.domains
    samples: list[Sample] = []
    host_cpu0 = host.cpu()
    threads0, threads0_at = role.thread_cpu(), time.monotonic()
    profiler = Profiler(work) if args.profile else None
    next_log = 0.0
    deadline = time.monotonic() + args.pass_limit
    while True:
        metrics = scrape(metrics_port)
        now = time.monotonic() - t0
        if metrics is not None:
            samples.append(Sample(now, sum(metrics["probes"].values()), metrics["probes"],
                                  sum(metrics["domains"].values()), role.cpu(), host.cpu() - host_cpu0,
                                  bench.memory_mib(role.proc.pid)[1]))
            if now >= next_log:
                log(f"  {name}: {now:5.0f}s {samples[-1].probes:,} probes, {samples[-1].domains_probed:,} domains "
                    "probed")
                next_log = now + 15
            if samples[-1].probes >= target and samples[-1].domains_probed >= args.domains:
                break
            if profiler and not profiler.started and (deadline - time.monotonic() < args.pass_limit / 2
                                                      or samples[-1].probes - base > target / 2):
                profiler.start(busiest_thread(threads0, role.thread_cpu()))
        if time.monotonic() > deadline or role.proc.poll() is not None:
            break
        time.sleep(args.sample_every)
    threads1, threads1_at = role.thread_cpu(), time.monotonic()
    time.sleep(1)
    rss, pss = bench.memory_mib(role.proc.pid)
    stopping = time.monotonic()
    role.stop()
    stop_s = time.monotonic() - stopping
    log(f"  {name}: stopped in {stop_s:.1f}s (SIGTERM; SIGKILL after 10 s)")
    result = summarize_pass(concurrency, samples, base, target, args.domains)
    result.update({"busiest_thread_share": busiest_thread(threads0, threads1)[1] / (threads1_at - threads0_at),
                   "rss_mib": rss, "pss_mib": pss, "stop_s": stop_s, "watched": watched,
                   "profile": profiler.report() if profiler else []})
    return result


def wait_until_watched(args, role: Role, metrics_port: int, t0: float) -> dict:
    """`--drive clock`: a scheduler that spreads the first rounds over drift_interval (and
    adds the store's domains to its table page by page) is given `--watch-wait` seconds
    to watch every domain; its memory then is the state of N watched domains. Then the
    test clock moves `--clock-jump` seconds ahead, past every domain's first due time, so
    that all of them are due at once."""
    wait = args.watch_wait_used
    log(f"  {role.name}: waiting {wait:.0f}s for every domain to be watched, then moving the clock "
        f"{args.clock_jump} s ahead")
    time.sleep(max(0.0, wait - (time.monotonic() - t0)))
    metrics = scrape(metrics_port) or {"probes": {}, "domains": {}}
    watched = {"after_s": time.monotonic() - t0, "pss_mib": bench.memory_mib(role.proc.pid)[1],
               "probes": sum(metrics["probes"].values()), "by_result": metrics["probes"],
               "domains_probed": sum(metrics["domains"].values())}
    role.set_clock_offset(args.clock_jump)
    return watched


def busiest_thread(before: dict[int, float], after: dict[int, float]) -> tuple[int, float]:
    """(thread id, CPU seconds) of the thread that used the most CPU between the readings."""
    return max(((tid, cpu - before.get(tid, 0.0)) for tid, cpu in after.items()), key=lambda x: x[1],
               default=(0, 0.0))


class Profiler:
    """`perf record` of one thread for a few seconds (when perf is installed and allowed):
    the top symbols say where the confirmer's own CPU goes."""

    def __init__(self, work: str, seconds: int = 5):
        self.data = os.path.join(work, "perf.data")
        self.seconds = seconds
        self.proc = None
        self.started = False

    def start(self, thread: tuple[int, float]) -> None:
        self.started = True
        if shutil.which("perf") is None or not thread[0]:
            return
        self.proc = bench.start_process(["perf", "record", "-q", "-F", "499", "-t", str(thread[0]), "-o", self.data,
                                         "--", "sleep", str(self.seconds)], self.data + ".log")

    def report(self, limit: int = 6) -> dict[str, list[tuple[float, str]]]:
        """The top symbols and the top shared objects (libcrypto, libstdc++, stsd, the
        kernel...) by self time."""
        if self.proc is None:
            return {}
        try:
            self.proc.wait(self.seconds + 10)
            return {key: self._top(key, limit) for key in ("symbol", "dso")}
        except (OSError, subprocess.TimeoutExpired):
            return {}
        finally:
            bench.stop_process(self.proc)

    def _top(self, key: str, limit: int) -> list[tuple[float, str]]:
        text = subprocess.run(["perf", "report", "-i", self.data, "--no-children", "--stdio", "--sort", key,
                               "--fields", f"overhead,{'sym' if key == 'symbol' else key}", "-g", "none"],
                              capture_output=True, text=True, timeout=60).stdout
        rows = []
        for line in text.splitlines():
            parts = line.split(None, 1)   # "48.44%", "[.] std::_Rb_tree_increment   ..." or "libc.so.6  ..."
            if len(parts) != 2 or not parts[0].endswith("%"):
                continue
            name = parts[1].removeprefix("[.] ").removeprefix("[k] ")
            # Without argument lists and the padded IPC columns after the name.
            name = re.split(r"\s{2,}", name.split("(", 1)[0], maxsplit=1)[0].strip()
            rows.append((float(parts[0][:-1]), name[:90]))
        return sorted(rows, reverse=True)[:limit]


def summarize_pass(concurrency: int, samples: list[Sample], base: int, target: int, domains: int) -> dict:
    probing = [s for s in samples if s.probes > base]
    if len(probing) < 2:
        raise RuntimeError(f"max_concurrent_probes {concurrency}: the confirmer made no probes")
    first, last = probing[0], probing[-1]
    span = last.t - first.t
    probes = last.probes - first.probes

    # Rate in the first and the last quarter of the probes made: does the scheduler slow
    # down as more domains have been probed?
    def rate_between(lo: float, hi: float) -> float:
        a = next(s for s in probing if s.probes >= first.probes + lo * probes)
        b = next(s for s in probing if s.probes >= first.probes + hi * probes)
        return (b.probes - a.probes) / (b.t - a.t) if b.t > a.t else 0.0

    # Memory against domains probed, least squares over the second half of the pass:
    # the slope is what one more probed domain costs (its round's status and history);
    # the intercept is the process with every domain watched and none probed yet.
    tail = probing[len(probing) // 2:]
    slope, intercept = linear_fit([s.domains_probed for s in tail], [s.pss_mib for s in tail])
    return {
        "concurrency": concurrency,
        "complete": last.probes >= target and last.domains_probed >= domains,
        "probes": last.probes - base, "target": target - base, "domains_probed": last.domains_probed,
        "by_result": last.by_result,
        "first_probe_s": first.t, "span_s": span,
        "span_probes": probes, "rate": probes / span if span > 0 else 0.0,
        "rate_first_quarter": rate_between(0.0, 0.25), "rate_last_quarter": rate_between(0.75, 1.0),
        "confirmer_cpu_s": last.confirmer_cpu - first.confirmer_cpu, "host_cpu_s": last.host_cpu - first.host_cpu,
        "pss_watched_mib": intercept, "pss_per_probed_domain_b": slope * 2**20,
    }


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line; (0, mean) when xs do not vary."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var
    return slope, mean_y - slope * mean_x


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", SOURCE_DIR, *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="stsd build dir (bin/stsd, bin/stsctl)")
    ap.add_argument("--work", help="scratch dir (default BUILD/confirm-bench-work; certificates are cached there)")
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--concurrency", default="16,128",
                    help="max_concurrent_probes values, one CONFIRMER pass each (16 is the default)")
    ap.add_argument("--pass-limit", type=float, default=120, help="seconds per pass at most")
    ap.add_argument("--sample-every", type=float, default=1.0, help="seconds between metric samples")
    ap.add_argument("--drive", choices=("start", "clock"), default="clock",
                    help="how every domain is made due: 'start' (the scheduler makes every domain due when it "
                         "starts), or 'clock' (wait --watch-wait s, then move the test clock --clock-jump s ahead)")
    ap.add_argument("--watch-wait", type=float, help="--drive clock: seconds from start (default N/1000 + 10: a restarted "
                                                     "scheduler adds 1,000 domains a second; "
                                                     "a pass that does not reach every domain says it was too short)")
    ap.add_argument("--clock-jump", type=int, default=results.DRIFT_INTERVAL_S * 5 // 4,
                    help="--drive clock: seconds to move the clock (default 1.25 x drift_interval)")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="skip the 5 s perf profile of the confirmer's busiest thread")
    ap.add_argument("--host-threads", type=int, default=1, help="policy_host.threads of the HOST")
    ap.add_argument("--start-timeout", type=float, default=300)
    ap.add_argument("--code-commit", default="HEAD",
                    help="the commit the build dir's stsd was built from, when not this checkout (e.g. an older "
                         "commit built elsewhere for a before/after comparison)")
    ap.add_argument("--output", help="results file (default bench/results/<UTC date>-confirm-scheduler.md); "
                                     "a run is appended to an existing file")
    ap.add_argument("--replace", action="store_true", help="overwrite the results file instead of appending")
    ap.add_argument("--no-results-file", action="store_true", help="print the report only")
    args = ap.parse_args()

    args.work = os.path.abspath(args.work or os.path.join(args.build_dir, "confirm-bench-work"))
    args.bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.watch_wait_used = args.watch_wait if args.watch_wait is not None else args.domains / 1000 + 10
    date = datetime.datetime.now(datetime.timezone.utc)
    args.output = args.output or os.path.join(SOURCE_DIR, "bench", "results", f"{date:%Y-%m-%d}-confirm-scheduler.md")
    for exe in ("stsd", "stsctl"):
        if not os.access(os.path.join(args.bin_dir, exe), os.X_OK):
            print(f"confirm bench: {args.bin_dir}/{exe} is not built", file=sys.stderr)
            return 2
    dnsdata.ensure_dir(args.work)
    started = time.monotonic()
    report = {"date": date, "commit": git("rev-parse", "--short", "HEAD"),
              "code_commit": git("log", "-1", "--format=%h", args.code_commit, "--", "src", "plugins", "tools"),
              "code_subject": git("log", "-1", "--format=%s", args.code_commit, "--", "src", "plugins", "tools"),
              "load_start": bench.loadavg(), "vantages": VANTAGE_ADDRESSES}

    material = certs.ensure(os.path.join(args.work, f"certs-{args.domains}"), args.domains, dnsdata.domain, log)
    report["certs_s"] = material["generated_s"]
    if material["generated_s"] is not None:
        log(f"certificates generated in {material['generated_s']:.1f}s")
    data = dnsdata.ensure_dir(os.path.join(args.work, f"data-{args.domains}"))
    files = {"csv": os.path.join(data, "domains.csv")}
    if not os.path.exists(files["csv"]):
        dnsdata.write_csv(files["csv"] + ".tmp", args.domains)
        os.replace(files["csv"] + ".tmp", files["csv"])

    store = prepare_store(args, files)
    report["import_s"] = store["import_s"]
    log(f"imported in {store['import_s']:.1f}s; starting the policy host")
    host, report["host"] = start_host(args, store["path"], material)
    log(f"policy host serves every domain after {report['host']['ready_s']:.1f}s")
    report["first_start"] = first_confirmer_start(args, store["path"], report["host"]["port"], material["ca"])
    report["passes"] = []
    for concurrency in args.concurrency:
        log(f"confirmer pass, max_concurrent_probes {concurrency}")
        report["passes"].append(run_pass(args, store["path"], host, report["host"]["port"], material["ca"],
                                         concurrency))
    log("memory baseline: the confirmer process without confirm:")
    report["baseline"] = run_pass(args, store["path"], host, report["host"]["port"], material["ca"], None)
    host.stop()
    report["load_end"] = bench.loadavg()
    with open(os.path.join(args.work, "last-run.json"), "w") as f:
        json.dump({**report, "date": report["date"].isoformat()}, f, indent=1)
    text = results.render(report, args)
    print(text)
    if not args.no_results_file:
        log(f"wrote {results.write_results(text, args)}")
    log(f"done in {time.monotonic() - started:.0f}s")
    failed = [p for p in report["passes"] if sum(p["by_result"].values()) != p["by_result"].get("match", 0)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
