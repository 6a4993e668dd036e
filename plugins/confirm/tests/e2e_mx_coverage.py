"""MX consistency and `stsctl check`.

- `stsctl policy stage` refuses an enforce policy that does not cover every current MX
  host (naming it), accepts it with --force, and never refuses testing mode.
- `stsctl check` reports, in plain words and --json: the TXT record as the world sees it
  (reached through a CNAME to stsd's service zone), the policy and certificate from each
  vantage (here the address mta-sts.<domain> resolves to), MX coverage, the TLS-RPT
  record, and from when each MX pattern is safe to add; and it reports a confirmed
  enforce policy that misses an MX host.

The domain's own zone is served by stsd's `file` plugin in the same server, and the
confirmer's resolver is that server: the CNAMEs lead back to the `mtasts` plugin just as
a sender's recursive resolver would follow them.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Stsd, check, free_port  # noqa: E402
from confirm_env import (Nginx, TestCA, confirmed_version, log, policy_text, run_script, status_json,  # noqa: E402
                         stsctl, wait_until)

DOMAIN = "mx.test"
POLICY_HOST = "127.0.0.31"

ZONE = """$ORIGIN mx.test.
$TTL 300
@ SOA ns1.mx.test. hostmaster.mx.test. 1 3600 600 86400 300
@ NS ns1.mx.test.
ns1 A 127.0.0.1
@ MX 10 mx1.mx.test.
@ MX 20 mx2.other-provider.test.
mta-sts A 127.0.0.31
_mta-sts CNAME _mta-sts.mx.test.sts.provider.test.
_smtp._tls CNAME _smtp._tls.mx.test.sts.provider.test.
"""

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        service_zone: sts.provider.test.
        ns_delegation: false
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 120
        rotation: 1d
      file:
        - zone: mx.test.
          path: {dir}/mx.test.zone
confirm:
  interval: 1s
  probes: 2
  soak: 2s
  timeout: 4s
  ca_file: CA_FILE
  resolver: 127.0.0.1:{port}
  https_port: HTTPS_PORT
  drift_interval: 5s
  max_backoff: 2s
"""

COVERING = policy_text("enforce", ["mx1.mx.test", "*.other-provider.test"], 604800)
MISSING = policy_text("enforce", ["mx1.mx.test"], 604800)


def check_report(stsd, expect_ok):
    p = stsctl(stsd, "check", DOMAIN, check_rc=False)
    check(p.returncode == (0 if expect_ok else 1), f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    j = stsctl(stsd, "check", DOMAIN, "--json", check_rc=False)
    report = json.loads(j.stdout)
    for key in ("domain", "checked_at", "ok", "problems", "text", "txt", "vantages", "mx", "tlsrpt", "safe_to_add"):
        check(key in report, f"--json lacks '{key}': {sorted(report)}")
    check(report["ok"] is expect_ok, report["problems"])
    return p.stdout, report


def main(parts):
    work = parts.work
    ca = TestCA(work)
    cert, key = ca.issue([f"mta-sts.{DOMAIN}"])
    https_port = free_port(POLICY_HOST)
    host = Nginx(work, "policy-host", POLICY_HOST, port=https_port)
    host.site(DOMAIN, cert, key, COVERING)
    parts.add(host.start())
    stsd = Stsd(CONFIG.replace("CA_FILE", ca.cert).replace("HTTPS_PORT", str(https_port)))
    os.makedirs(stsd.dir, exist_ok=True)
    with open(os.path.join(stsd.dir, "mx.test.zone"), "w") as f:
        f.write(ZONE)
    parts.add(stsd.start())

    stsctl(stsd, "domain", "add", DOMAIN, "--tlsrpt-rua", "mailto:tls@mx.test")

    # An enforce policy that leaves out mx2.other-provider.test is refused, and nothing is staged.
    p = stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", "mx1.mx.test", "--max-age", "604800",
               check_rc=False)
    log(f"refusal: {p.stderr.strip()}")
    check(p.returncode == 1, f"exit {p.returncode}: {p.stdout} {p.stderr}")
    check("does not cover MX host mx2.other-provider.test" in p.stderr, p.stderr)
    check("--force" in p.stderr or "force" in p.stderr, p.stderr)
    check(status_json(stsd, DOMAIN)["staged"] is None, "a refused policy was staged")

    # Testing mode is never refused (it breaks nothing); a covering enforce policy is accepted.
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "testing", "--mx", "mx1.mx.test", "--max-age", "604800")
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", "mx1.mx.test", "--mx", "*.other-provider.test",
           "--max-age", "604800")
    wait_until(lambda: confirmed_version(stsd, DOMAIN) == 2, 30, "version 2 to be confirmed")

    text, report = check_report(stsd, True)
    log("stsctl check:\n" + text)
    served = status_json(stsd, DOMAIN)["served_id"]
    for words in (
            f"TXT _mta-sts.{DOMAIN} via CNAME _mta-sts.{DOMAIN}.sts.provider.test: one record",
            "it carries the id stsd serves now",
            f"Policy: address {POLICY_HOST}:{https_port} serves version 2 (the confirmed one); certificate valid until",
            "MX mx1.mx.test (preference 10): covered by mx1.mx.test in confirmed version 2",
            "MX mx2.other-provider.test (preference 20): covered by *.other-provider.test in confirmed version 2",
            f"TLS-RPT _smtp._tls.{DOMAIN}: one record \"v=TLSRPTv1; rua=mailto:tls@mx.test\", as configured",
            "Safe to add MX host *.other-provider.test from",
            "Result: no problems found"):
        check(words in text, f"'{words}' not in:\n{text}")
    check(report["txt"]["id"] == served and report["txt"]["sts_records"] == 1, report["txt"])
    check(report["txt"]["cname_chain"] == [f"_mta-sts.{DOMAIN}.sts.provider.test"], report["txt"])
    check(report["vantages"][0]["served"] == "confirmed" and report["vantages"][0]["certificate_not_after"], report)
    check({h["host"] for h in report["mx"]["hosts"]} == {"mx1.mx.test", "mx2.other-provider.test"}, report["mx"])
    check(report["tlsrpt"]["ok"], report["tlsrpt"])
    check(all(s["from"] for s in report["safe_to_add"]), report["safe_to_add"])

    # With --force the uncovering policy is staged (the refusal becomes a warning); once
    # it is served and confirmed, `check` reports the MX host it leaves out.
    p = stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", "mx1.mx.test", "--max-age", "604800",
               "--force")
    log(f"forced: {p.stdout.strip()} {p.stderr.strip()}")
    check("mx2.other-provider.test" in p.stderr, p.stderr)
    host.write_policy(DOMAIN, MISSING)
    wait_until(lambda: confirmed_version(stsd, DOMAIN) == 3, 30, "version 3 to be confirmed")
    text, report = check_report(stsd, False)
    log("stsctl check after the forced policy:\n" + text)
    problem = ("MX host mx2.other-provider.test is not covered by the confirmed policy (version 3, enforce): "
               "senders that enforce MTA-STS refuse to deliver to it")
    check(problem in text and problem in report["problems"], text)
    check("MX mx2.other-provider.test (preference 20): NOT covered by confirmed version 3" in text, text)


if __name__ == "__main__":
    run_script(main)
