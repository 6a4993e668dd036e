"""The clock stepping back (issue 12, case 11), with the real stsd, stsctl and kdig and the
test clock (STSD_CLOCK_OFFSET_FILE): SOA serials (service zone and NS-delegated zones) and
the TXT id never go back, the step is logged and shown in the metrics, and a restart while
the clock is still behind (even after kill -9) starts from the persisted time lease, not
from the clock. Before this, the service zone's serial fell back by the step
(1795975151 -> 1795888752) and secondaries ignored every later change."""
import os
import re
import signal
import sys
import urllib.request

from harness import SOURCE_DIR, Stsd, check, free_port, kdig

sys.path.insert(0, os.path.join(SOURCE_DIR, "plugins", "confirm", "tests"))
from confirm_env import TestClock, log, run_script, served_id, stsctl, wait_until  # noqa: E402

DOMAIN = "stepback.test"
DAY = 86400
METRICS_PORT = free_port()

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        service_zone: sts.provider.test.
        serial_step: 1s   # the service zone's serial follows the store's time to the second
        ttl: 1
metrics:
  listen: 127.0.0.1:MPORT
""".replace("MPORT", str(METRICS_PORT))


def serial(stsd, zone):
    r = kdig(stsd, zone, "SOA")
    check(r.rcode == "NOERROR", r)
    soa = r.rdatas("SOA")
    check(len(soa) == 1, r)
    return int(soa[0].split()[2])


def serials(stsd):
    return {"service zone": serial(stsd, "sts.provider.test."), "_mta-sts zone": serial(stsd, f"_mta-sts.{DOMAIN}."),
            "_smtp._tls zone": serial(stsd, f"_smtp._tls.{DOMAIN}.")}


def metric(name):
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    check(m, f"{name} not in /metrics")
    return float(m.group(1))


def check_not_back(before, after, what):
    for zone, value in before.items():
        check(after[zone] >= value, f"{what}: the {zone} serial went back from {value} to {after[zone]}")


def main(parts):
    clock = TestClock(parts.work)
    stsd = Stsd(CONFIG, env=clock.env)
    parts.add(stsd.start())
    stsctl(stsd, "domain", "add", DOMAIN)
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", f"mx1.{DOMAIN}")
    stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "1", "--reason", "served")
    clock.set(clock.now() + DAY)  # a day on: the id rotated, the serials moved
    id_before, serials_before = served_id(stsd, DOMAIN), serials(stsd)
    check(metric("stsd_clock_steps_back_total") == 0)

    log("the clock steps back a day: nothing served goes back")
    clock.set(clock.now() - DAY)
    check(served_id(stsd, DOMAIN) == id_before, (served_id(stsd, DOMAIN), id_before))
    check_not_back(serials_before, serials(stsd), "after the step back")
    wait_until(lambda: "the clock stepped back" in stsd.read_log(), 10, "the step back logged")
    check(metric("stsd_clock_steps_back_total") == 1)
    check(metric("stsd_clock_behind_seconds") > DAY - 60, metric("stsd_clock_behind_seconds"))

    log("a change while the clock is behind gets a serial above every earlier one")
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", f"mx2.{DOMAIN}")
    stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "2", "--reason", "served")
    after_change = serials(stsd)
    check(after_change["_mta-sts zone"] > serials_before["_mta-sts zone"], (serials_before, after_change))
    id_v2 = served_id(stsd, DOMAIN)
    check(id_v2 != id_before and "v2d" in id_v2, id_v2)

    for how in ("SIGTERM", "kill -9"):
        log(f"restart after {how}, the clock still a day behind: the lease holds")
        seen = serials(stsd)
        stsd.stop(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
        stsd.start()
        check(served_id(stsd, DOMAIN) == id_v2, (served_id(stsd, DOMAIN), id_v2))
        check_not_back(seen, serials(stsd), f"after a restart ({how})")
        wait_until(lambda: metric("stsd_clock_steps_back_total") == 1, 10, "the step back counted after the restart")

    log("the clock comes forward again: time moves on, the metric clears")
    clock.set(clock.now() + DAY + 5)
    wait_until(lambda: metric("stsd_clock_behind_seconds") == 0, 10, "the clock caught up")
    check(serials(stsd)["service zone"] > after_change["service zone"])


if __name__ == "__main__":
    run_script(main)
