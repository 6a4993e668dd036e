"""The machine and the source tree a run is measured on, the progress log, and where
results files go."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_model() -> str:
    if platform.processor():
        return platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def memory_total_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def first_line(cmd: list[str]) -> str:
    """The first line a command prints (a version), "?" when it cannot run."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def git_commit() -> str:
    """The source tree's short commit, for results files ("?" outside a checkout)."""
    try:
        return subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def write_results(results_dir: str, date, name: str, quick: bool, text: str) -> str:
    """Writes bench/results/<date>[-<name>][-quick].md and returns its path."""
    os.makedirs(results_dir, exist_ok=True)
    stem = f"{date:%Y-%m-%d}" + (f"-{name}" if name else "") + ("-quick" if quick else "")
    path = os.path.join(results_dir, stem + ".md")
    with open(path, "w") as f:
        f.write(text + "\n")
    return path
