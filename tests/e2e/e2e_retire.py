"""Retiring a domain end to end (RFC 8461 §8.3), with the real stsd, stsctl, kdig and curl,
and the test clock (STSD_CLOCK_OFFSET_FILE) to move through the days it takes.

The history: version 1 (enforce, max_age 7 days) confirmed; a day later version 2
(enforce, max_age 1 day) confirmed; a day later `domain remove` is refused and `domain
retire` stages version 3 (mode none), which is confirmed by hand. The TXT id then carries
version 3, and the records must stay until version 1's cache may have expired (version
2's confirmation + 7 days, longer than version 2's own), then go: DNS answers as for a
domain it never had, and the policy host 404s. The sweeper runs without the confirmer.
"""
import calendar
import os
import shutil
import subprocess
import sys
import time

from harness import SOURCE_DIR, Stsd, check, free_port, kdig

# The confirmer's end-to-end helpers (test CA, stsctl over the socket, the served id).
sys.path.insert(0, os.path.join(SOURCE_DIR, "plugins", "confirm", "tests"))
from confirm_env import TestCA, log, run_script, served_id, status_json, stsctl, wait_until  # noqa: E402

DOMAIN = "retire.test"
NEVER_ADDED = "never-added.test"
DAY = 86400
HTTPS_PORT = free_port()

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 1
policy_host:
  listen: ["127.0.0.1:HTTPS_PORT"]
  cert_dir: certs
  cert_poll: 1s
""".replace("HTTPS_PORT", str(HTTPS_PORT))


class TestClock:
    """The offset file stsd adds to the real time; `set(t)` makes stsd's now `t`."""

    def __init__(self, path):
        self.path = path
        self.write(0)

    def write(self, offset):
        with open(self.path + ".tmp", "w") as f:
            f.write(str(int(offset)))
        os.replace(self.path + ".tmp", self.path)
        time.sleep(0.3)  # stsd reads it again at most every 100 ms

    def advance(self, seconds):
        with open(self.path) as f:
            self.write(int(f.read()) + seconds)

    def set(self, unix_time):
        self.write(unix_time - int(time.time()))


def policy_host(ca, path="/.well-known/mta-sts.txt"):
    """(HTTP status, body) of https://mta-sts.<DOMAIN><path>, fetched as a sender does."""
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--resolve", f"mta-sts.{DOMAIN}:{HTTPS_PORT}:127.0.0.1",
                        "--cacert", ca.cert, "-w", "\n%{http_code}", f"https://mta-sts.{DOMAIN}:{HTTPS_PORT}{path}"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, p)
    body, _, status = p.stdout.rpartition("\n")
    return int(status), body


def txt(stsd, domain):
    """kdig's answer for _mta-sts.<domain> TXT: (rcode, TXT rdatas)."""
    answer = kdig(stsd, f"_mta-sts.{domain}", "TXT")
    return answer.rcode, answer.rdatas("TXT")


def event_at(status, kind, version):
    for event in status["events"]:
        if event["kind"] == kind and event["version"] == version:
            return event["at"]
    raise AssertionError(f"no {kind} event of version {version} in {status['events']}")


def main(parts):
    work = parts.work
    ca = TestCA(work)
    stsd = Stsd(CONFIG, env={"STSD_CLOCK_OFFSET_FILE": os.path.join(work, "clock-offset")})
    clock = TestClock(os.path.join(work, "clock-offset"))
    os.makedirs(os.path.join(stsd.dir, "certs"))
    cert, key = ca.issue([f"mta-sts.{DOMAIN}"])
    shutil.copy(cert, os.path.join(stsd.dir, "certs", "retire.crt"))
    shutil.copy(key, os.path.join(stsd.dir, "certs", "retire.key"))
    parts.add(stsd.start())
    unknown = txt(stsd, NEVER_ADDED)  # what DNS says for a domain it does not have

    log("history: v1 (enforce, 7 days), a day later v2 (enforce, 1 day)")
    stsctl(stsd, "domain", "add", DOMAIN)
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", f"mx1.{DOMAIN}", "--max-age", str(7 * DAY))
    stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "1", "--reason", "served")
    clock.advance(DAY)
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", f"mx2.{DOMAIN}", "--max-age", str(DAY))
    stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "2", "--reason", "served")
    v2_confirmed = event_at(status_json(stsd, DOMAIN), "manual_confirm", 2)
    clock.advance(DAY)

    log("remove is refused while senders may hold the enforce policy")
    p = stsctl(stsd, "domain", "remove", DOMAIN, check_rc=False)
    check(p.returncode == 1, p)
    check("is published" in p.stderr and f"stsctl domain retire {DOMAIN}" in p.stderr and "--force" in p.stderr, p)

    log("retire: version 3, mode none, staged; the id stays on version 2 until it is confirmed")
    p = stsctl(stsd, "domain", "retire", DOMAIN, "--reason", "customer left")
    check(f"retiring {DOMAIN}: version 3 (mode none) is staged" in p.stdout, p)
    check(f"stsctl policy confirm {DOMAIN} --version 3" in p.stdout, p)
    p = stsctl(stsd, "status", DOMAIN)
    check("retiring:" in p.stdout and "customer left" in p.stdout
          and "waiting for version 3 (mode none) to be confirmed" in p.stdout, p)
    check("v2d" in served_id(stsd, DOMAIN), served_id(stsd, DOMAIN))
    status, body = policy_host(ca)
    check(status == 200 and "mode: none\nmx: mx2.retire.test\nmax_age: 86400\n" in body, (status, body))  # text mode: LF

    log("the none version is confirmed by hand: the TXT id carries it, the removal time is fixed")
    stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "3", "--reason", "the none policy is served")
    check("v3d" in served_id(stsd, DOMAIN), served_id(stsd, DOMAIN))
    s = status_json(stsd, DOMAIN)
    retirement = s["retirement"]
    check(retirement["state"] == "scheduled", retirement)
    # Version 1 was served until version 2's confirmation, and may be cached 7 days more.
    remove_at = calendar.timegm(time.strptime(v2_confirmed, "%Y-%m-%dT%H:%M:%SZ")) + 7 * DAY
    check(retirement["remove_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(remove_at)), (retirement, v2_confirmed))
    check(retirement["longest_cached"]["version"] == 1 and retirement["longest_cached"]["served_until"] == v2_confirmed,
          retirement)
    p = stsctl(stsd, "status", DOMAIN)
    check(f"records removed at {retirement['remove_at']}" in p.stdout, p)

    log("a minute before the removal time: everything is still served")
    clock.set(remove_at - 60)
    time.sleep(3)  # three sweeps
    check("v3d" in served_id(stsd, DOMAIN), served_id(stsd, DOMAIN))
    check(policy_host(ca)[0] == 200, policy_host(ca))

    log("past the removal time: the records go")
    clock.set(remove_at + 1)
    wait_until(lambda: txt(stsd, DOMAIN) == unknown, 10, "the TXT record to be gone")
    check(txt(stsd, DOMAIN) == unknown, (txt(stsd, DOMAIN), unknown))
    status, body = policy_host(ca)
    check(status == 404, (status, body))
    p = stsctl(stsd, "status", DOMAIN, check_rc=False)
    check(p.returncode == 1 and "not in the store" in p.stderr, p)
    check(f"mtasts: {DOMAIN} retired: its records are removed" in stsd.read_log(), stsd.read_log()[-2000:])


if __name__ == "__main__":
    run_script(main)
