"""A data set loaded into every server: stsd imports it (timed, benchlib.importing), is
restarted to time start-up from its store, and serves ids that are read back over DNS and
written into the peers' zone file; each peer then loads that zone, timed the same way.
A variant stsd gets a copy of the imported store."""
from __future__ import annotations

import os

import dnsdata
from benchlib import importing
from benchlib.machine import log
from benchlib.processes import HOST
from benchlib.servers import PEERS, StartFailure


class ImportFailed(RuntimeError):
    def __init__(self, figures: importing.ImportFigures):
        super().__init__(f"stsctl import of {figures.count:,} domains: {figures.failure}")
        self.figures = figures


def load_stsd(stsd, files: dict, count: int, args) -> list[str]:
    """Imports the data set into a fresh store, restarts stsd to time start-up from the
    store, and returns the ids it serves (in domain order). The import's figures are
    kept in `stsd.import_figures` (ImportFailed when it did not finish)."""
    stsd.prepare()
    stsd.start_empty()
    try:
        figures = importing.timed_import(stsd, files["csv"], count, importing.import_timeout(args, count))
    finally:
        stsd.stop()
    stsd.import_figures = figures
    stsd.import_s = figures.wall_s
    if figures.failure:
        raise ImportFailed(figures)
    log(f"{stsd.name}: restarting to time start-up from the store")
    start_stsd(stsd, count, args)
    figures.serving_rss_mib = stsd.rss_mib
    return read_back_ids(stsd, count)


def start_stsd(stsd, count: int, args) -> None:
    stsd.start(dnsdata.owner(count - 1), timeout_s=args.start_timeout)
    log(f"{stsd.name}: first answer after {stsd.load_s:.2f}s, RSS {stsd.rss_mib:.0f} MiB, PSS {stsd.pss_mib:.0f} MiB")


def read_back_ids(stsd, count: int) -> list[str]:
    """The id stsd serves for every domain, read over DNS (the peers must serve the same),
    65,536 names per dnsdata.read_ids call."""
    log(f"{stsd.name}: reading back the {count:,} served ids")
    ids: list[str] = []
    bad: list[str] = []
    chunk = 65536
    for first in range(0, count, chunk):
        got = dnsdata.read_ids(HOST, stsd.port, first, min(chunk, count - first))
        bad += [dnsdata.owner(first + k) for k, ident in enumerate(got) if ident is None][:3]
        ids += [ident or "" for ident in got]
        if (first // chunk) % 32 == 31:
            log(f"  read {first + chunk:,}/{count:,} ids")
    missing = sum(1 for ident in ids if not ident)
    if missing:
        raise RuntimeError(f"{stsd.name} served no valid MTA-STS TXT for {missing} of {count} names, e.g. {bad[:3]}")
    return ids


def start_variants(main, variants: list, count: int, args) -> list:
    """Starts every variant stsd on a copy of `main`'s store (main is stopped meanwhile);
    a variant this build refuses (its config) or that does not start is left out, said."""
    main.stop()
    started = []
    for v in variants:
        v.clone_store_from(main)
        v.write_config()
        problem = v.check_config()
        if problem:
            log(f"{v.name}: left out, stsd refuses its config: {problem}")
            continue
        try:
            start_stsd(v, count, args)
            started.append(v)
        except StartFailure as failure:
            log(f"{v.name}: left out, {failure}")
    start_stsd(main, count, args)
    return started


def start_peers(args, names: list[str], count: int, zone_path: str, failures: dict) -> list:
    """Each peer loads the zone; one that does not answer within the bound (e.g. it runs
    out of memory or time at 10M) is stopped and its StartFailure kept in `failures`."""
    started = []
    for name in names:
        cls = PEERS[name]
        port = args.port_base + 1 + list(PEERS).index(name)
        peer = cls(port, os.path.join(args.work, f"{name}-{count}"), args.workers)
        peer.prepare(zone_path)
        log(f"{peer.name}: loading {count:,} names")
        try:
            peer.start(dnsdata.owner(count - 1), timeout_s=peer_start_timeout(args, count))
        except StartFailure as failure:
            log(f"{peer.name}: not measured at {count:,}: {failure}")
            failures[name] = failure
            continue
        log(f"{peer.name}: first answer after {peer.load_s:.2f}s, RSS {peer.rss_mib:.0f} MiB, "
            f"PSS {peer.pss_mib:.0f} MiB, peak RSS {peer.peak_rss_mib:.0f} MiB")
        started.append(peer)
    return started


def peer_start_timeout(args, count: int) -> float:
    """--start-timeout, raised to 120 s per million names for large sets (Knot loads
    about 0.2 M names per second here)."""
    return max(args.start_timeout, 120.0 * count / 1e6)
