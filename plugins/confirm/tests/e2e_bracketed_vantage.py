"""A vantage written with brackets around an IPv4 address, "[127.0.0.41]:PORT", confirms by
itself, as the same vantage written without them does.

The store has always accepted "[192.0.2.7]:443"; the confirmer used to refuse it, so such
a domain never confirmed and its TXT record never appeared. Both now read vantages with
the core's one address parser (src/net/address.h).

Real parts: one nginx edge on 127.0.0.41 serving both domains (by SNI) with certificates
from a test CA, and the stsd binary with stsctl.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Stsd, check  # noqa: E402
from confirm_env import (Nginx, TestCA, confirm_lines, confirmed_version, log, policy_text,  # noqa: E402
                         run_script, served_id, status_json, stsctl, wait_until)

EDGE = "127.0.0.41"

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
confirm:
  interval: 1s
  probes: 2
  soak: 2s
  timeout: 4s
  ca_file: CA_FILE
  resolver: 127.0.0.1:{port}
  drift_interval: 5s
  max_backoff: 2s
"""


def staged(domain):
    return policy_text("testing", [f"mx1.{domain}"], 86400)


def main(parts):
    work = parts.work
    ca = TestCA(work)
    edge = Nginx(work, "edge", EDGE)
    vantages = {"plain.test": f"{EDGE}:{edge.port}", "bracketed.test": f"[{EDGE}]:{edge.port}"}
    for domain in vantages:
        edge.site(domain, *ca.issue([f"mta-sts.{domain}"]), staged(domain))
    parts.add(edge.start())
    stsd = parts.add(Stsd(CONFIG.replace("CA_FILE", ca.cert)).start())

    for domain, vantage in vantages.items():
        stsctl(stsd, "domain", "add", domain, "--vantage", vantage)
        check(status_json(stsd, domain)["settings"]["vantages"] == [vantage], status_json(stsd, domain)["settings"])
        stsctl(stsd, "policy", "stage", domain, "--mode", "testing", "--mx", f"mx1.{domain}", "--max-age", "86400")

    for domain, vantage in vantages.items():
        wait_until(lambda: confirmed_version(stsd, domain) == 1, 30,
                   f"{domain} (vantage {vantage}) to be confirmed; status: {confirm_lines(stsd, domain)}")
        status = status_json(stsd, domain)
        check((status.get("confirmation") or {}).get("manual") is False, status.get("confirmation"))
        check(served_id(stsd, domain), f"{domain}: no TXT record after confirmation")
        log(f"{domain} with vantage {vantage} confirmed by the confirmer; id {served_id(stsd, domain)}")


if __name__ == "__main__":
    run_script(main)
