"""A manual confirmation while an edge lags is refused, naming the edge and what it
serves; with --force it is accepted and the event log records what was forced past.
`stsctl check` then says adding the new MX host is not safe while that edge lags.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check  # noqa: E402
from confirm_env import (confirmed_version, log, policy_text, run_script, status_json, stsctl,  # noqa: E402
                         wait_until)
from rotation_env import RotationScenario  # noqa: E402

DOMAIN = "lagging.test"
V1 = policy_text("enforce", ["mxa.lagging.test"], 86400)
V2 = policy_text("enforce", ["mxa.lagging.test", "mxb.lagging.test"], 86400)


def main(parts):
    s = RotationScenario(parts, DOMAIN, V1)
    edge1, edge2 = s.edges
    s.stage_and_confirm(1, "enforce", ["mxa.lagging.test"])

    # Version 2 reaches edge 1 only.
    edge1.write_policy(DOMAIN, V2)
    stsctl(s.stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", "mxa.lagging.test",
           "--mx", "mxb.lagging.test", "--max-age", "86400", "--force")
    wait_until(lambda: f"edge {edge2.vantage} still serves version 1" in s.lines(), 20,
               "a round that saw edge 2 lag")

    refused = stsctl(s.stsd, "policy", "confirm", DOMAIN, "--version", "2", "--reason", "deployed", check_rc=False)
    log(f"refused: {refused.stderr.strip()}")
    check(refused.returncode == 1, refused)
    check(f"edge {edge2.vantage} still serves version 1" in refused.stderr, refused.stderr)
    check("force" in refused.stderr, refused.stderr)
    check(confirmed_version(s.stsd, DOMAIN) == 1, "a refused confirmation changed nothing")

    forced = stsctl(s.stsd, "policy", "confirm", DOMAIN, "--version", "2", "--reason", "edge 2 is draining",
                    "--force")
    check("confirmed lagging.test version 2" in forced.stdout, forced.stdout)
    check(f"edge {edge2.vantage} still serves version 1" in forced.stderr, forced.stderr)
    check(confirmed_version(s.stsd, DOMAIN) == 2, "forced confirmation")
    event = next(e for e in status_json(s.stsd, DOMAIN)["events"] if e["kind"] == "manual_confirm")
    log(f"event: {event}")
    check(event["version"] == 2 and f"forced: edge {edge2.vantage} still serves version 1" in event["detail"],
          event)

    # Adding mxb is not safe while edge 2 serves version 1, which does not list it.
    report = stsctl(s.stsd, "check", DOMAIN, check_rc=False)
    check(f"Safe to add MX host mxb.lagging.test: NOT safe now: edge {edge2.vantage} still serves version 1"
          in report.stdout, report.stdout)
    check("Safe to add MX host mxa.lagging.test from" in report.stdout, report.stdout)
    check(report.returncode == 1, report.returncode)


if __name__ == "__main__":
    run_script(main)
