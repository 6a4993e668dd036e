"""`stsctl import FILE --confirm-now` into an empty store, timed (issue 15: 1M domains in
<= 10 s, memory bounded whatever the file's size). Besides the wall time: stsd's CPU
seconds over the import, its peak RSS (VmHWM: it starts empty just before), and stsctl's
own CPU seconds (wait4) and peak RSS (its VmHWM as it exits: processes.wait_with_usage
says why not wait4's ru_maxrss). A slow import is not cut short
early: it is bounded generously (import_timeout), logs its progress every 30 s, and one
that does not finish is reported with the line it reached."""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass

import dnsdata

from benchlib import processes
from benchlib.machine import log

PROGRESS = re.compile(r"import: (\w+): (\d+) rows(?:, line (\d+))? \((\d+)%\)")


@dataclass
class ImportFigures:
    count: int
    file_mib: float
    wall_s: float | None = None          # None when the import did not finish
    stsd_cpu_s: float = 0.0
    stsctl_cpu_s: float = 0.0
    stsd_peak_rss_mib: float = 0.0      # VmHWM of stsd, started on an empty store
    stsd_rss_after_mib: float = 0.0
    stsctl_peak_rss_mib: float = 0.0
    serving_rss_mib: float | None = None  # stsd's RSS once restarted on the imported store
    failure: str | None = None
    last_progress: str = ""

    @property
    def rate(self) -> float | None:
        return self.count / self.wall_s if self.wall_s else None


def import_timeout(args, count: int) -> float:
    """`--import-timeout`, else 600 s or 180 s per million domains, whichever is longer:
    20x the 10 s target, so that the import of an older build (93 s per million)
    still finishes and is measured."""
    given = getattr(args, "import_timeout", None)
    return given if given else max(600.0, 180.0 * count / 1e6)


def timed_import(stsd, csv_path: str, count: int, timeout_s: float) -> ImportFigures:
    """Runs the import against a running stsd on an empty store."""
    figures = ImportFigures(count, os.path.getsize(csv_path) / 2**20)
    log_path = os.path.join(stsd.workdir, "import.log")
    if os.path.exists(log_path):
        os.unlink(log_path)
    cpu_before = stsd.cpu()
    log(f"{stsd.name}: importing {count:,} domains (stsctl import --confirm-now; bound {timeout_s:.0f}s)")
    t0 = time.monotonic()
    proc = processes.start_process(stsd.stsctl_command("import", csv_path, "--confirm-now", "--reason", "bench"),
                                   log_path)
    next_report = [t0 + 30]

    def report_progress():
        now = time.monotonic()
        if now >= next_report[0]:
            next_report[0] = now + 30
            log(f"  import running {now - t0:.0f}s: {_last_progress(log_path) or 'no progress line yet'}; "
                f"stsd RSS {processes.status_kib(stsd.proc.pid, 'VmRSS') / 1024:.0f} MiB")

    usage = processes.wait_with_usage(proc, timeout_s, on_wait=report_progress)
    elapsed = time.monotonic() - t0
    figures.stsd_cpu_s = stsd.cpu() - cpu_before
    figures.stsd_peak_rss_mib = processes.peak_rss_mib(stsd.proc.pid)
    figures.stsd_rss_after_mib = processes.status_kib(stsd.proc.pid, "VmRSS") / 1024
    figures.last_progress = _last_progress(log_path)
    if usage is None:
        figures.failure = (f"did not finish within {timeout_s:.0f}s (--import-timeout); last progress: "
                           f"{figures.last_progress or 'none'}")
    elif proc.returncode != 0:
        figures.failure = f"stsctl exit {proc.returncode} after {elapsed:.1f}s: {_tail(log_path)}"
    else:
        figures.wall_s = elapsed
        figures.stsctl_cpu_s = usage.cpu_s
        figures.stsctl_peak_rss_mib = usage.peak_rss_kib / 1024
        if usage.peak_rss_sampled:
            log("  stsctl's peak RSS is the largest VmHWM seen every 0.2 s (ptrace refused: not read at its exit)")
    if figures.failure:
        log(f"{stsd.name}: import FAILED: {figures.failure}")
    else:
        log(f"{stsd.name}: imported {count:,} in {elapsed:.1f}s ({count / elapsed:,.0f}/s), stsd CPU "
            f"{figures.stsd_cpu_s:.1f}s, peak RSS stsd {figures.stsd_peak_rss_mib:.0f} MiB, stsctl "
            f"{figures.stsctl_peak_rss_mib:.0f} MiB")
    return figures


def import_only(args, count: int, csv_path: str, port: int) -> ImportFigures:
    """An import into a fresh store of its own (a small import for --quick, or more points
    of the import's scaling); stsd is restarted on it once for its serving RSS, nothing is
    measured with dnsperf, and the store is removed after."""
    from benchlib.servers import Stsd
    stsd = Stsd(port, os.path.join(args.work, f"import-{count}"), args.workers, args.bin_dir)
    stsd.prepare()
    stsd.start_empty()
    try:
        figures = timed_import(stsd, csv_path, count, import_timeout(args, count))
        stsd.stop()
        if not figures.failure:
            stsd.start(dnsdata.owner(count - 1), timeout_s=args.start_timeout)
            figures.serving_rss_mib = stsd.rss_mib
        return figures
    finally:
        stsd.stop()
        shutil.rmtree(stsd.store, ignore_errors=True)


def _last_progress(log_path: str) -> str:
    """stsctl's last progress line ("import: importing: N rows, line L (P%)"), shortened."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - 4096))
            lines = f.read().decode(errors="replace").replace("\r", "\n").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        m = PROGRESS.search(line)
        if m:
            line = f", line {int(m.group(3)):,}" if m.group(3) else ""
            return f"{m.group(1)} {int(m.group(2)):,} rows{line} ({m.group(4)} %)"
    return ""


def _tail(log_path: str, chars: int = 1500) -> str:
    try:
        with open(log_path, errors="replace") as f:
            return f.read()[-chars:].strip()
    except OSError:
        return ""
