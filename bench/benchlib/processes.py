"""Processes the benchmark starts, stopped by PID on exit, error or signal (never by name),
and what /proc says about them: CPU seconds and memory of a process tree."""
from __future__ import annotations

import atexit
import collections
import ctypes
import dataclasses
import os
import signal
import subprocess
import sys
import time

HOST = "127.0.0.1"   # loopback only, by design
CLK_TCK = os.sysconf("SC_CLK_TCK")

_started: list[subprocess.Popen] = []
_running_servers: list = []   # objects with a stop() method and a running process


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
    forget_process(proc)


def forget_process(proc: subprocess.Popen) -> None:
    """For a process reaped by other means (wait_with_usage)."""
    if proc in _started:
        _started.remove(proc)


@dataclasses.dataclass
class ChildUsage:
    cpu_s: float          # user + system seconds of the process (and of the children it waited for)
    peak_rss_kib: int     # its own peak resident set (VmHWM), read as it exits
    peak_rss_sampled: bool = False   # ptrace was refused: the largest VmHWM seen every poll_s


# ptrace(2) requests, option and event (<linux/ptrace.h>).
_PTRACE_CONT = 7
_PTRACE_SEIZE = 0x4206
_PTRACE_O_TRACEEXIT = 0x40
_PTRACE_EVENT_EXIT = 6


def _ptrace(request: int, pid: int, data: int = 0) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    return libc.ptrace(request, pid, None, data) == 0


def wait_with_usage(proc: subprocess.Popen, timeout_s: float, poll_s: float = 0.2,
                    on_wait=None, grace_s: float = 10.0) -> ChildUsage | None:
    """Waits for `proc` to end and returns its CPU seconds and its own peak RSS, or None
    when it did not end within `timeout_s` (it is then stopped: SIGTERM, SIGKILL
    `grace_s` later, and reaped). `on_wait()` is called every `poll_s`.

    The peak RSS is the VmHWM of the process's memory, read when the process stops at its
    exit, before that memory is released (ptrace with PTRACE_O_TRACEEXIT: the harness
    traces its own child, nothing else). wait4's ru_maxrss is not that figure: exec keeps
    the high-water mark of the memory it replaces (setmax_mm_hiwater_rss in fs/exec.c), and
    subprocess starts a child with vfork, on this harness's memory, so the child's
    ru_maxrss is at least the harness's own peak (54 MiB at 1M where stsctl's is 15 MiB)."""
    traced = _ptrace(_PTRACE_SEIZE, proc.pid, _PTRACE_O_TRACEEXIT)
    peak_kib = 0
    end = time.monotonic() + timeout_s
    kill_at = None   # set once stopping after the timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid and os.WIFSTOPPED(status):
            event = status >> 16
            if event == _PTRACE_EVENT_EXIT:
                peak_kib = status_kib(pid, "VmHWM")
            # An event stop resumes as it was; a signal stop delivers its signal.
            _ptrace(_PTRACE_CONT, pid, 0 if event else os.WSTOPSIG(status))
            continue
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            forget_process(proc)
            if kill_at is not None:
                return None
            return ChildUsage(usage.ru_utime + usage.ru_stime, peak_kib, peak_rss_sampled=not traced)
        if not traced:
            peak_kib = max(peak_kib, status_kib(proc.pid, "VmHWM"))
        now = time.monotonic()
        if kill_at is None and now >= end:
            proc.send_signal(signal.SIGTERM)
            kill_at = now + grace_s
        elif kill_at is not None and now >= kill_at:
            proc.kill()
            kill_at = float("inf")
        if on_wait and kill_at is None:
            on_wait()
        time.sleep(poll_s)


def register_server(server) -> None:
    _running_servers.append(server)


def unregister_server(server) -> None:
    if server in _running_servers:
        _running_servers.remove(server)


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
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def stop_leftovers(pids: list[int]) -> None:
    """Kills (by PID) the processes of a stopped server's tree that are still running
    as our children, then reaps every finished child that is not a Popen we track."""
    me = os.getpid()
    for p in pids:
        fields = stat_fields(p)
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
            fields = stat_fields(p)
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


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, ...] (field 3 onwards)."""
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
            fields = stat_fields(int(entry))
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
        fields = stat_fields(p)
        if fields:
            ticks += int(fields[11]) + int(fields[12])   # stat fields 14 and 15
    return ticks / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    """A kB figure of /proc/<pid>/status (VmRSS, VmHWM...), 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS of the main process, sum of PSS over the tree) in MiB. For one process the
    two agree up to shared libraries; for a forking server (NSD) PSS does not count the
    pages the processes share several times over."""
    pss_kib = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss_kib += int(line.split()[1])
        except OSError:
            pass
    return status_kib(pid, "VmRSS") / 1024, pss_kib / 1024


def peak_rss_mib(pid: int) -> float:
    """The main process's peak resident set since it started (VmHWM), in MiB."""
    return status_kib(pid, "VmHWM") / 1024
