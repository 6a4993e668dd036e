"""The files of one data set (N domains), made once and kept in the work folder: the CSV
that stsd imports, the query files of every mix, and (written later, with the ids stsd
serves) the peers' zone file. See dnsdata.py for their shape."""
from __future__ import annotations

import os
import time

import dnsdata
from benchlib.machine import log

MIXES = {"hit": 0, "nx10": 10}   # mix -> percent of NXDOMAIN questions


def query_count(count: int) -> int:
    """Questions per query file: every name once up to 1M (dnsperf loops over the file),
    at least 100k so that small sets do not repeat a short cycle."""
    return max(100_000, min(count, 1_000_000))


def prepare_data(args, count: int) -> dict:
    """{"csv", "zone", "hit", "nx10"} paths for N domains; missing files are written."""
    d = dnsdata.ensure_dir(os.path.join(args.work, f"data-{count}"))
    files = {"csv": os.path.join(d, "domains.csv"), "zone": os.path.join(d, "example.zone")}
    for mix, nx in MIXES.items():
        files[mix] = os.path.join(d, f"queries-{mix}.txt")
        _write_once(files[mix], lambda path: dnsdata.write_queries(path, count, nx, query_count(count)))
    _write_once(files["csv"], lambda path: dnsdata.write_csv(path, count))
    return files


def _write_once(path: str, write) -> None:
    if os.path.exists(path):
        return
    t0 = time.monotonic()
    write(path + ".tmp")
    os.replace(path + ".tmp", path)
    if time.monotonic() - t0 > 5:
        log(f"wrote {path} in {time.monotonic() - t0:.0f}s")


def import_csv(args, count: int) -> str:
    """The CSV alone, for an import-only measurement."""
    path = os.path.join(dnsdata.ensure_dir(os.path.join(args.work, f"data-{count}")), "domains.csv")
    _write_once(path, lambda p: dnsdata.write_csv(p, count))
    return path
