"""Every edge is good: the id rotates on time, at the domain's own offset.

The verification round 2 minutes (verify_window / 2) before the domain's rotation sees
both edges serve the confirmed version (a 304 to the ETag recorded with its body); the
id is then the old one two seconds before the boundary computed from the documented
formula, and the new one right after it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check  # noqa: E402
from confirm_env import log, period_label, policy_text, run_script, stsctl, utc_text  # noqa: E402
from rotation_env import ROTATION, VERIFY_WINDOW, RotationScenario  # noqa: E402

DOMAIN = "ontime.test"
V1 = policy_text("enforce", ["mx1.ontime.test"], 86400)


def main(parts):
    s = RotationScenario(parts, DOMAIN, V1)
    s.stage_and_confirm(1, "enforce", ["mx1.ontime.test"])
    s.check_schedule()
    boundary = s.boundary
    plain = stsctl(s.stsd, "status", DOMAIN).stdout
    check(f"next rotation at {utc_text(boundary)}" in plain, plain)
    before = s.id()
    check(before.startswith(period_label(boundary, ROTATION)) and "v1d" in before, before)

    # The verification round: its evidence covers the boundary.
    verify_at = boundary - VERIFY_WINDOW // 2
    s.clock.set(verify_at + 1)
    s.wait_round_at(verify_at, "the verification round")
    rotation = s.rotation()
    log(f"after the verification round: {rotation}")
    check((rotation.get("evidence_until") or 0) >= boundary, rotation)
    check(not rotation.get("held"), rotation)

    s.clock.set(boundary - 2)
    check(s.id() == before, "the id moved before the domain's rotation")
    s.clock.set(boundary + 2)
    after = s.id()
    log(f"ids: {before} -> {after} at {utc_text(boundary)}")
    check(after != before and after.startswith(period_label(boundary + ROTATION, ROTATION)) and "v1d" in after,
          (before, after))
    check("rotation_held" not in s.event_kinds(), s.event_kinds())
    samples = s.metrics()
    check(samples.get('stsd_confirm_rotation_evidence_total{result="verified"}', 0) >= 1, samples)
    check(samples.get("stsd_confirm_rotation_held_domains") == 0, samples)
    # Repeated rounds ask with the ETag seen with the checked body: nginx answers 304, and
    # that is evidence too (README "Verified id changes").
    check(samples.get("stsd_confirm_probes_not_modified_total", 0) >= 2, samples)


if __name__ == "__main__":
    run_script(main)
