"""The servers under test, each on its own loopback port with the same number of workers:
Knot DNS and NSD loading one zone file, and stsd serving its store (plus any stsd variant
the run is given: extra config or environment, e.g. another UDP receive mode)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import dnsdata
from benchlib import processes
from benchlib.machine import first_line
from benchlib.processes import HOST


class StartFailure(RuntimeError):
    """A server that did not answer in time, with how far it got: the seconds it ran and
    its memory when it was stopped (e.g. a peer that cannot load 10M names)."""

    def __init__(self, name: str, elapsed_s: float, rss_mib: float, peak_rss_mib: float, why: str, log_tail: str):
        super().__init__(f"{name} {why} after {elapsed_s:.0f}s (RSS {rss_mib:.0f} MiB, peak {peak_rss_mib:.0f} MiB):\n"
                         f"{log_tail}")
        self.elapsed_s = elapsed_s
        self.rss_mib = rss_mib
        self.peak_rss_mib = peak_rss_mib
        self.why = why


@dataclass
class StartupFigures:
    load_s: float          # exec -> first answer for the last name loaded
    rss_mib: float         # VmRSS of the main process, 1 s after that answer
    pss_mib: float         # PSS summed over the process tree, at the same time
    peak_rss_mib: float    # VmHWM of the main process (the peak while loading)


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
        self.peak_rss_mib: float | None = None
        self.version = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict | None:
        return None

    def start(self, probe_name: str, timeout_s: float) -> None:
        """Starts the server and times exec -> first NOERROR answer for `probe_name`.
        Raises StartFailure (with the time and memory reached) when it does not answer
        within `timeout_s`."""
        t0 = time.monotonic()
        self.proc = start_process_of(self)
        watch = _MemoryWatch(self.proc.pid)

        def alive() -> bool:
            watch.sample()
            return self.proc.poll() is None

        ready = dnsdata.wait_for_answer(HOST, self.port, probe_name, timeout_s, alive)
        if ready is None:
            elapsed = time.monotonic() - t0
            why = "exited" if self.proc.poll() is not None else f"did not answer {probe_name} in time"
            log_tail = self.log_tail()
            self.stop()
            raise StartFailure(self.name, elapsed, watch.last_rss, watch.peak_rss, why, log_tail)
        self.load_s = ready - t0
        time.sleep(1.0)   # let the load settle (freed parse buffers) before reading memory
        self.rss_mib, self.pss_mib = processes.memory_mib(self.proc.pid)
        self.peak_rss_mib = processes.peak_rss_mib(self.proc.pid)

    def startup_figures(self) -> StartupFigures:
        return StartupFigures(self.load_s, self.rss_mib, self.pss_mib, self.peak_rss_mib)

    def stop(self) -> None:
        if self.proc is not None:
            tree = processes.process_tree(self.proc.pid)
            processes.stop_process(self.proc)
            processes.stop_leftovers(tree[1:])
            self.proc = None
        processes.unregister_server(self)

    def cpu(self) -> float:
        return processes.cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def start_process_of(server: Server) -> subprocess.Popen:
    proc = processes.start_process(server.command(), os.path.join(server.workdir, "server.log"), server.env())
    processes.register_server(server)
    return proc


class _MemoryWatch:
    """The RSS of a starting server, read at most once a second while waiting for it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.last_rss = 0.0
        self.peak_rss = 0.0
        self._next = 0.0

    def sample(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 1.0
        rss = processes.status_kib(self.pid, "VmRSS") / 1024
        if rss:
            self.last_rss = rss
            self.peak_rss = max(self.peak_rss, processes.peak_rss_mib(self.pid), rss)


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
        self.version = first_line(["knotd", "--version"])

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
        self.version = first_line(["nsd", "-v"])

    def command(self):
        return ["nsd", "-d", "-c", os.path.join(self.workdir, "nsd.conf")]


PEERS = {"knot": Knot, "nsd": Nsd}


class Stsd(Server):
    name = "stsd"
    peer = False

    def __init__(self, port, workdir, workers, bin_dir, plugins_yaml: str = "", top_yaml: str = "",
                 server_yaml: str = "", extra_env: dict | None = None, name: str = "stsd"):
        """`plugins_yaml`: more plugins for the server block, beside mtasts (YAML at the
        indentation of `mtasts:`); `server_yaml`: more keys of the server block (at the
        indentation of `listen:`); `top_yaml`: more top-level keys; `extra_env`: more
        environment. `name` tells a variant apart in the report (e.g. stsd-uring)."""
        super().__init__(port, workdir, workers)
        self.name = name
        self.bin_dir = bin_dir
        self.socket = os.path.join(self.workdir, "stsd.sock")
        self.clock_offset_file = os.path.join(self.workdir, "clock-offset")
        self.config_path = os.path.join(self.workdir, "stsd.yaml")
        self.store = os.path.join(self.workdir, "stsd.db")
        self.plugins_yaml = plugins_yaml
        self.top_yaml = top_yaml
        self.server_yaml = server_yaml
        self.extra_env = dict(extra_env or {})
        self.import_s: float | None = None

    def prepare(self) -> None:
        """An empty store and the config."""
        shutil.rmtree(self.store, ignore_errors=True)
        self.write_config()

    def write_config(self) -> None:
        w = self.workdir
        with open(self.clock_offset_file, "w") as f:
            f.write("0\n")
        server_keys = "".join(f"    {line}\n" for line in self.server_yaml.splitlines())
        with open(self.config_path, "w") as f:
            f.write(f"""storage: {self.store}
workers: {self.workers}
log_level: warning
admin: {{ socket: {self.socket} }}
{self.top_yaml}servers:
  - listen: ["{HOST}:{self.port}"]
{server_keys}    plugins:
      mtasts:
        nameservers: [{dnsdata.NAMESERVER}]
        hostmaster: {dnsdata.HOSTMASTER}
        ttl: {dnsdata.TTL}
{self.plugins_yaml}""")
        self.version = first_line([os.path.join(self.bin_dir, "stsd"), "--version"])

    def check_config(self) -> str | None:
        """None when this stsd accepts the config, else its complaint (e.g. a plugin
        that this build does not have)."""
        done = subprocess.run([os.path.join(self.bin_dir, "stsd"), "--check-config", self.config_path],
                              capture_output=True, text=True, timeout=60, env=self.env())
        return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-500:]

    def command(self):
        return [os.path.join(self.bin_dir, "stsd"), "--config", self.config_path]

    def env(self):
        # The store's clock reads this file (src/main/main.cpp); the harness moves it to
        # put a rotation boundary inside the "change" run.
        env = dict(os.environ)
        env["STSD_CLOCK_OFFSET_FILE"] = self.clock_offset_file
        env.update(self.extra_env)
        return env

    def start_empty(self, timeout_s: float = 30) -> None:
        """Starts on an empty store and waits for the admin socket and any DNS answer."""
        self.proc = start_process_of(self)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and self.proc.poll() is None:
            if os.path.exists(self.socket) and dnsdata.query(HOST, self.port, "_mta-sts.probe.example.", timeout=0.1):
                return
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.name} did not come up within {timeout_s:.0f}s:\n{tail}")

    def stsctl_command(self, *args: str) -> list[str]:
        return [os.path.join(self.bin_dir, "stsctl"), "--socket", self.socket, *args]

    def stsctl(self, *args: str, timeout_s: float = 3600) -> subprocess.CompletedProcess:
        return subprocess.run(self.stsctl_command(*args), capture_output=True, text=True, timeout=timeout_s)

    def set_clock_offset(self, seconds: int) -> None:
        tmp = self.clock_offset_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{seconds}\n")
        os.replace(tmp, self.clock_offset_file)

    def clone_store_from(self, other: "Stsd") -> None:
        """This server's store becomes a copy of `other`'s (which must be stopped). RocksDB
        never changes a table file once written, so the .sst and .blob files are hard
        links (a 10M store costs no copy); the rest (manifest, WAL, options) is copied."""
        shutil.rmtree(self.store, ignore_errors=True)
        os.makedirs(self.store)
        for entry in os.scandir(other.store):
            target = os.path.join(self.store, entry.name)
            if entry.is_dir():
                shutil.copytree(entry.path, target)
            elif entry.name.endswith((".sst", ".blob")):
                os.link(entry.path, target)
            elif entry.name != "LOCK":
                shutil.copy2(entry.path, target)
