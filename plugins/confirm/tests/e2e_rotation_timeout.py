"""A vantage times out before the rotation: the id is held (fail safe).

Edge 2 hangs (it accepts connections and never answers) from 5 minutes before the
domain's rotation. The verification round cannot see it serve the confirmed version, so
the id does not rotate, and status and metrics say the edge timed out.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check  # noqa: E402
from confirm_env import BlackHole, log, policy_text, run_script, utc_text, wait_until  # noqa: E402
from rotation_env import VERIFY_WINDOW, RotationScenario  # noqa: E402

DOMAIN = "timeout.test"
V1 = policy_text("testing", ["mx1.timeout.test"], 86400)


def main(parts):
    s = RotationScenario(parts, DOMAIN, V1)
    edge2 = s.edges[1]
    s.stage_and_confirm(1, "testing", ["mx1.timeout.test"])
    boundary = s.boundary
    held_id = s.id()

    s.clock.set(boundary - 300)
    edge2.stop()
    parts.add(BlackHole(edge2.host, edge2.port).start())
    verify_at = boundary - VERIFY_WINDOW // 2
    s.clock.set(verify_at + 1)
    s.wait_round_at(verify_at, "the verification round")

    s.clock.set(boundary + 60)
    check(s.id() == held_id, f"the id rotated while edge 2 timed out: {s.id()}")
    expected = f"rotation held since {utc_text(boundary)}: edge {edge2.vantage}: no complete answer within 2 s"
    lines = wait_until(lambda: (lambda t: t if expected in t else None)(s.lines()), 20, "status to say why")
    log(f"status: {lines}")
    check("timed out" in lines, lines)
    sample = f'stsd_confirm_rotation_held{{domain="{DOMAIN}",vantage="{edge2.vantage}",reason="timeout"}}'
    wait_until(lambda: s.metrics().get(sample) == 1, 10, f"{sample} in /metrics")


if __name__ == "__main__":
    run_script(main)
