"""An edge regresses 5 minutes before the domain's rotation: the id is held, and status,
check and metrics name the edge. It recovers: the id jumps to the current period.

Version 2 is confirmed and served by both edges; edge 2 goes back to version 1 (a bad
CDN purge). The verification round 2 minutes before the rotation sees it, so the
boundary passes without evidence and the id stays in its period (issue 11: the id used
to rotate and hand senders version 1 under the new id).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check  # noqa: E402
from confirm_env import log, period_label, policy_text, run_script, stsctl, utc_text, wait_until  # noqa: E402
from rotation_env import ROTATION, VERIFY_WINDOW, RotationScenario  # noqa: E402

DOMAIN = "regress.test"
V1 = policy_text("enforce", ["mxa.regress.test"], 86400)
V2 = policy_text("enforce", ["mxa.regress.test", "mxb.regress.test"], 86400)


def main(parts):
    s = RotationScenario(parts, DOMAIN, V1)
    edge1, edge2 = s.edges
    s.stage_and_confirm(1, "enforce", ["mxa.regress.test"])
    for edge in s.edges:
        edge.write_policy(DOMAIN, V2)
    s.stage_and_confirm(2, "enforce", ["mxa.regress.test", "mxb.regress.test"])
    s.check_schedule()
    boundary = s.boundary
    held_id = s.id()
    check(held_id.startswith(period_label(boundary, ROTATION)) and "v2d" in held_id, held_id)

    # Five minutes before the rotation, edge 2 serves version 1 again.
    s.clock.set(boundary - 300)
    edge2.write_policy(DOMAIN, V1)
    verify_at = boundary - VERIFY_WINDOW // 2
    s.clock.set(verify_at + 1)
    s.wait_round_at(verify_at, "the verification round")
    wait_until(lambda: "rotation_held" in s.event_kinds(), 10, "a rotation_held event")

    # The boundary passes: the id stays in its period, and everything names edge 2.
    s.clock.set(boundary + 60)
    check(s.id() == held_id, f"the id rotated while edge 2 served version 1: {s.id()}")
    expected = f"rotation held since {utc_text(boundary)}: edge {edge2.vantage} still serves version 1"
    lines = wait_until(lambda: (lambda t: t if expected in t else None)(s.lines()), 10, "status to say why")
    log(f"status: {lines}")
    rotation = s.rotation()
    check(rotation.get("held") and rotation.get("held_vantage") == edge2.vantage, rotation)
    plain = stsctl(s.stsd, "status", DOMAIN).stdout
    check(expected in plain, plain)
    report = stsctl(s.stsd, "check", DOMAIN, check_rc=False)
    check(report.returncode == 1 and expected in report.stdout, report.stdout)
    check(f"Safe to add MX host mxb.regress.test: NOT safe now: edge {edge2.vantage} still serves version 1"
          in report.stdout, report.stdout)
    sample = (f'stsd_confirm_rotation_held{{domain="{DOMAIN}",vantage="{edge2.vantage}",'
              f'reason="older-version"}}')
    samples = s.metrics()
    check(samples.get(sample) == 1, samples)
    check(samples.get("stsd_confirm_rotation_held_domains") == 1, samples)
    check(samples.get('stsd_confirm_rotation_evidence_total{result="unverified"}', 0) >= 1, samples)

    # Edge 2 serves version 2 again: the next round is evidence, the id jumps.
    edge2.write_policy(DOMAIN, V2)
    current = wait_until(lambda: (lambda i: i if i != held_id else None)(s.id()), 20, "the id to jump")
    log(f"recovered: {held_id} -> {current}")
    check(current.startswith(period_label(boundary + ROTATION, ROTATION)) and "v2d" in current, current)
    check("rotation_resumed" in s.event_kinds(), s.event_kinds())
    wait_until(lambda: sample not in s.metrics(), 10, "the hold to leave /metrics")
    check("rotation held" not in s.lines(), s.lines())


if __name__ == "__main__":
    run_script(main)
