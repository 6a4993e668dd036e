"""tests/e2e/secondaries.py against a known-good primary (knotd serving zones and a
catalog from files), so that a failure of e2e_secondaries points at stsd, not at the way
the suite runs Knot and BIND: both secondaries built from the deployment guide's templates
(docs/secondaries/*.conf) provision the catalog's members, take a change by NOTIFY and
IXFR, add and drop members with the catalog, and fall back to AXFR (and the log parsing
says so) when the primary lost its journal.
"""
import os
import shutil
import sys

from harness import check, run_tests
from secondaries import BindSecondary, KnotPrimary, KnotSecondary, TsigKey, missing_tool

CATALOG = "catalog.reference.test."
ZONES = [f"z{i}.reference.test." for i in range(5)]
NOTIFY_TIMEOUT = 15


def zone_text(apex, txt, serial=1):
    return (f"$ORIGIN {apex}\n$TTL 60\n@ SOA ns1 hostmaster {serial} 60 10 3600 60\n"
            f"@ NS ns1.example.net.\n@ TXT \"{txt}\"\n")


def both(primary, key):
    """A Knot and a BIND secondary of `primary`, started (NOTIFY targets fixed first)."""
    knot = KnotSecondary(primary.address, key, CATALOG)
    bind = BindSecondary(primary.address, key, CATALOG)
    primary.notify = [knot.address, bind.address]
    return knot, bind


def test_reference_primary():
    key = TsigKey.generate("reference-key")
    primary = KnotPrimary({apex: zone_text(apex, "v1") for apex in ZONES}, key, CATALOG)
    knot, bind = both(primary, key)
    with primary, knot, bind:
        secondaries = (knot, bind)
        for s in secondaries:
            s.wait_zones(ZONES, timeout=30)
            check(s.query(ZONES[0], "TXT").rdatas("TXT") == ['"v1"'], s.query(ZONES[0], "TXT"))
            check(s.last_transfer(ZONES[0]) == "AXFR", (s.kind, s.transfers(ZONES[0])))

        primary.set_zone(ZONES[0], zone_text(ZONES[0], "v2"))
        changed = primary.serial(ZONES[0])
        check(changed != 1, changed)
        for s in secondaries:
            s.wait_serial(ZONES[0], changed, timeout=NOTIFY_TIMEOUT, exact=True)
            check(s.query(ZONES[0], "TXT").rdatas("TXT") == ['"v2"'], s.query(ZONES[0], "TXT"))
            check(s.last_transfer(ZONES[0]) == "IXFR", (s.kind, s.transfers(ZONES[0])))

        added = "added.reference.test."
        primary.add_zone(added, zone_text(added, "new"))
        primary.remove_zone(ZONES[1])
        for s in secondaries:
            s.wait_zones([added], timeout=NOTIFY_TIMEOUT)
            s.wait_zones([ZONES[1]], present=False, timeout=NOTIFY_TIMEOUT)

        # A primary without its journal answers an IXFR in AXFR style (RFC 1995 §4).
        primary.stop()
        shutil.rmtree(os.path.join(primary.dir, "journal"))
        newer = knot.serial(ZONES[2]) + 5
        primary.zones[ZONES[2]] = zone_text(ZONES[2], "v3", newer)
        primary.start()
        for s in secondaries:
            s.wait_serial(ZONES[2], newer, timeout=NOTIFY_TIMEOUT, exact=True)
            check(s.last_transfer(ZONES[2]) == "AXFR", (s.kind, s.transfers(ZONES[2])))
        check(knot.last_transfer(ZONES[0]) == "IXFR" and bind.last_transfer(ZONES[0]) == "IXFR",
              "an unchanged zone was transferred again")


if __name__ == "__main__":
    missing = missing_tool()
    if missing:
        sys.exit(f"{missing} is not installed: scripts/deps.sh installs it")
    run_tests(None, [test_reference_primary])
