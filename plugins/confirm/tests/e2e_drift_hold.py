"""Drift watch: after a version is confirmed, an edge starts serving something else.

The id must stop rotating (a rotation would invite every sender to fetch, and cache, the
wrong file), status must say why, and rotation resumes when the edge serves the confirmed
version again. An operator may release the hold (a manual confirmation, which needs
--force while an edge serves something else); the confirmer then does not hold again for
the same drift, but does for a new one. The id still does not rotate past the bad edge:
rotation needs evidence from every vantage (README "Verified id changes"), so the way to
stop a broken edge from holding it is to remove the edge from the domain's vantages.
/metrics shows the hold (stsd_confirm_drift_held{domain=...} 1) exactly while it lasts.

Rotation is 3 s here so that "rotating" and "held" can both be watched over DNS.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Stsd, check, free_port  # noqa: E402
from confirm_env import (Nginx, TestCA, confirm_lines, confirmed_version, log, policy_text, run_script,  # noqa: E402
                         served_id, status_json, stsctl, wait_until)
from confirm_env import metrics as read_metrics  # noqa: E402

DOMAIN = "drift.test"
ROTATION = 3
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
        ttl: 1
        rotation: ROTATIONs
confirm:
  interval: 1s
  probes: 2
  soak: 2s
  timeout: 3s
  ca_file: CA_FILE
  drift_interval: 2s
  max_backoff: 2s
metrics:
  listen: 127.0.0.1:METRICS_PORT
"""

V1 = policy_text("testing", ["mx1.drift.test"], 86400)
WRONG = policy_text("testing", ["mx1.drift.test", "mx9.attacker.test"], 86400)


def ids_over(stsd, seconds):
    """The distinct ids served over `seconds`, in order."""
    ids = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        current = served_id(stsd, DOMAIN)
        if not ids or ids[-1] != current:
            ids.append(current)
        time.sleep(0.3)
    return ids


def hold_of(stsd):
    return status_json(stsd, DOMAIN).get("hold")


def metrics():
    return read_metrics(METRICS_PORT)


HELD_SAMPLE = f'stsd_confirm_drift_held{{domain="{DOMAIN}"}}'


def event_kinds(stsd):
    return [e.get("kind") for e in status_json(stsd, DOMAIN)["events"]]


def main(parts):
    work = parts.work
    ca = TestCA(work)
    cert, key = ca.issue([f"mta-sts.{DOMAIN}"])
    edge1 = Nginx(work, "edge1", "127.0.0.11")
    edge2 = Nginx(work, "edge2", "127.0.0.12")
    for edge in (edge1, edge2):
        edge.site(DOMAIN, cert, key, V1)
        parts.add(edge.start())
    stsd = parts.add(Stsd(CONFIG.replace("CA_FILE", ca.cert).replace("ROTATION", str(ROTATION))
                          .replace("METRICS_PORT", str(METRICS_PORT))).start())
    stsctl(stsd, "domain", "add", DOMAIN, "--vantage", edge1.vantage, "--vantage", edge2.vantage)
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "testing", "--mx", "mx1.drift.test", "--max-age", "86400")
    wait_until(lambda: confirmed_version(stsd, DOMAIN) == 1, 30, "version 1 to be confirmed")

    ids = ids_over(stsd, 2 * ROTATION + 1)
    log(f"confirmed; ids while rotating: {ids}")
    check(len(ids) >= 2 and all(i and "v1d" in i for i in ids), f"the id should rotate every {ROTATION}s: {ids}")
    samples = metrics()
    check(HELD_SAMPLE not in samples, f"held before any drift: {samples}")
    check(samples.get('stsd_confirm_domains{state="watching"}') == 1, samples)
    check(samples.get("stsd_confirm_confirmations_total") == 1, samples)
    check(samples.get("stsd_confirm_drift_events_total") == 0, samples)
    check(samples.get('stsd_confirm_probes_total{result="match"}', 0) >= 4, samples)
    check(samples.get("stsd_confirm_last_probe_timestamp_seconds", 0) > time.time() - 30, samples)

    # Edge 2 starts serving another policy.
    edge2.write_policy(DOMAIN, WRONG)
    hold = wait_until(lambda: hold_of(stsd), 20, "a hold after edge 2 drifted")
    log(f"hold: {hold}")
    reason = hold["reason"] if isinstance(hold, dict) else str(hold)
    check(f"edge {edge2.vantage} serves a policy that matches no version of {DOMAIN}" in reason, reason)
    check("mx9.attacker.test" in reason, reason)
    lines = confirm_lines(stsd, DOMAIN)
    check("id rotation held" in lines, lines)
    check("drift" in event_kinds(stsd) and "hold" in event_kinds(stsd), event_kinds(stsd))
    plain = stsctl(stsd, "status", DOMAIN).stdout
    check("mx9.attacker.test" in plain, plain)
    log("plain status:\n" + plain)

    samples = wait_until(lambda: (lambda m: m if m.get(HELD_SAMPLE) == 1 else None)(metrics()), 10,
                         "the hold in /metrics")
    check(samples.get('stsd_confirm_domains{state="held"}') == 1, samples)
    check(samples.get("stsd_confirm_drift_events_total") == 1, samples)
    check(samples.get('stsd_confirm_probes_total{result="mismatch"}', 0) >= 1, samples)
    log(f"/metrics: {HELD_SAMPLE} 1")

    held_ids = ids_over(stsd, 3 * ROTATION)
    log(f"ids while held: {held_ids}")
    check(len(held_ids) == 1 and held_ids[0], f"the id rotated while held: {held_ids}")

    # The edge serves the confirmed version again: the hold goes, rotation resumes.
    edge2.write_policy(DOMAIN, V1)
    wait_until(lambda: hold_of(stsd) is None, 20, "the hold to be released")
    check("hold_released" in event_kinds(stsd), event_kinds(stsd))
    samples = wait_until(lambda: (lambda m: m if HELD_SAMPLE not in m else None)(metrics()), 10,
                         "the hold to leave /metrics")
    check(samples.get('stsd_confirm_domains{state="held"}') == 0, samples)
    check(samples.get('stsd_confirm_domains{state="watching"}') == 1, samples)
    ids = ids_over(stsd, 2 * ROTATION + 1)
    log(f"released; ids: {ids}")
    check(len(ids) >= 2 and held_ids[0] not in ids[1:], f"rotation did not resume: {ids}")

    # Drift again; this time an operator overrides (a manual confirmation releases it),
    # which needs --force while edge 2 serves something else.
    edge2.write_policy(DOMAIN, WRONG)
    wait_until(lambda: hold_of(stsd), 20, "a second hold")
    refused = stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "1", "--reason", "edge 2 is a test node",
                     check_rc=False)
    check(refused.returncode == 1 and f"edge {edge2.vantage} serves a policy that matches no version" in refused.stderr,
          refused)
    stsctl(stsd, "policy", "confirm", DOMAIN, "--version", "1", "--reason", "edge 2 serves a test file on purpose",
           "--force")
    check(hold_of(stsd) is None, "a manual confirmation releases the hold")
    wait_until(lambda: "drift_override" in event_kinds(stsd), 20, "the confirmer to notice the override")
    time.sleep(2 * ROTATION)
    check(hold_of(stsd) is None, "the confirmer held again the drift an operator released")
    lines = confirm_lines(stsd, DOMAIN)
    check("released by an operator" in lines and "rotation held since" in lines and edge2.vantage in lines, lines)
    samples = metrics()
    check(HELD_SAMPLE not in samples and samples.get('stsd_confirm_domains{state="drift_overridden"}') == 1,
          f"an overridden drift is not held: {samples}")
    ids = ids_over(stsd, 2 * ROTATION + 1)
    check(len(ids) == 1, f"the override must not let the id rotate past the bad edge: {ids}")

    # A different drift (edge 2 now answers 404) is held again.
    os.remove(os.path.join(edge2.root_of(DOMAIN), ".well-known", "mta-sts.txt"))
    hold = wait_until(lambda: hold_of(stsd), 20, "a hold for the new drift")
    reason = hold["reason"] if isinstance(hold, dict) else str(hold)
    check("HTTP 404" in reason, reason)
    log(f"new drift held: {reason}")
    samples = wait_until(lambda: (lambda m: m if m.get(HELD_SAMPLE) == 1 else None)(metrics()), 10,
                         "the new hold in /metrics")
    check(samples.get("stsd_confirm_drift_events_total") == 3, samples)

    # Removing the broken edge from the domain's vantages lets the id rotate again.
    stsctl(stsd, "domain", "set", DOMAIN, "--vantage", edge1.vantage)
    wait_until(lambda: hold_of(stsd) is None, 20, "the hold to go with the broken edge")
    ids = ids_over(stsd, 2 * ROTATION + 1)
    log(f"without edge 2: ids {ids}")
    check(len(ids) >= 2, f"rotation did not resume without the broken edge: {ids}")


if __name__ == "__main__":
    run_script(main)
