"""Every way a policy host can fail a strict sender (RFC 8461 §3.3) is reported in plain
words and never confirms: redirect, 404, wrong media type, oversize, slow (> 4 s), bad
certificate (wrong name, expired, unknown CA), non-ASCII body, a different policy, a file
that is not a policy, and a policy host name that does not resolve.

One nginx "edge" on 127.0.0.21 serves every domain (by SNI), each with its fault; a
control domain served correctly must confirm in the same run, so the faults, not the
set-up, are what keeps the others unconfirmed.
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Stsd, check  # noqa: E402
from confirm_env import (Knot, Nginx, TestCA, confirm_lines, confirmed_version, log, policy_text,  # noqa: E402
                         run_script, served_id, status_json, stsctl, wait_until)

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
  resolver: RESOLVER
  drift_interval: 5s
  max_backoff: 2s
"""

RESOLVED_ZONE = """$ORIGIN resolved.test.
$TTL 300
@ SOA ns1.resolved.test. hostmaster.resolved.test. 1 3600 600 86400 300
@ NS ns1.resolved.test.
ns1 A 127.0.0.1
"""


def staged(domain):
    return policy_text("testing", [f"mx1.{domain}"], 86400)


def main(parts):
    work = parts.work
    ca = TestCA(work)
    other_ca = TestCA(work, "unknown CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    edge = Nginx(work, "edge", "127.0.0.21")

    def cert(domain):
        return ca.issue([f"mta-sts.{domain}"])

    # domain -> the words its status must contain
    expected = {}

    def fault(domain, words, policy="staged", certificate=None, extra="", files=None):
        c, k = certificate or cert(domain)
        edge.site(domain, c, k, staged(domain) if policy == "staged" else policy, extra=extra, files=files)
        expected[domain] = words

    edge.site("good.test", *cert("good.test"), staged("good.test"))
    fault("redirect.test", "redirect to https://www.redirect.test/mta-sts.txt (not allowed)",
          extra="    location = /.well-known/mta-sts.txt { return 301 https://www.redirect.test/mta-sts.txt; }")
    fault("notfound.test", "HTTP 404 Not Found (senders accept only 200)", policy=None)
    fault("mediatype.test", "media type text/html (senders need text/plain)",
          extra="    location /.well-known/ { types { } default_type text/html; }")
    fault("oversize.test", "bytes, more than the 64 KiB senders read",
          policy=staged("oversize.test") + "x" * (70 * 1024) + "\r\n")
    fault("slow.test", "no complete answer within 4 s",
          policy=staged("slow.test") + "".join(f"x-padding-{i}: {'y' * 40}\r\n" for i in range(40)),
          extra="    limit_rate 64;")
    fault("wrongname.test", "certificate is not valid for mta-sts.wrongname.test (it is for www.other.test)",
          certificate=ca.issue(["www.other.test"]))
    fault("expired.test", "certificate for mta-sts.expired.test expired 2 days ago",
          certificate=ca.issue(["mta-sts.expired.test"], not_before=now - datetime.timedelta(days=30),
                               not_after=now - datetime.timedelta(days=2, minutes=5)))
    fault("unknownca.test", "certificate for mta-sts.unknownca.test is not signed by a trusted CA (issuer: CN=unknown CA)",
          certificate=other_ca.issue(["mta-sts.unknownca.test"]))
    fault("nonascii.test", "policy file has non-ASCII bytes (line 3) with no charset",
          policy="version: STSv1\r\nmode: testing\r\nmx: mx1.b\u00fccher.nonascii.test\r\nmax_age: 86400\r\n")
    fault("different.test", "serves a policy that matches no version of different.test (mode testing, "
          "max_age 86400, mx mx2.different.test)",
          policy=policy_text("testing", ["mx2.different.test"], 86400))
    fault("notapolicy.test", "serves a file senders reject", policy="<html>hello</html>\r\n")
    expected["resolved.test"] = ("mta-sts.resolved.test does not exist (NXDOMAIN), so there is no address "
                                 "to fetch the policy from")
    parts.add(edge.start())
    knot = parts.add(Knot(work, {"resolved.test": RESOLVED_ZONE}).start())

    stsd = parts.add(Stsd(CONFIG.replace("CA_FILE", ca.cert).replace("RESOLVER", knot.address)).start())
    for domain in ["good.test"] + list(expected):
        vantage = [] if domain == "resolved.test" else ["--vantage", edge.vantage]
        stsctl(stsd, "domain", "add", domain, *vantage)
        stsctl(stsd, "policy", "stage", domain, "--mode", "testing", "--mx", f"mx1.{domain}", "--max-age", "86400")
    started = time.time()

    # The control domain confirms: the set-up works.
    wait_until(lambda: confirmed_version(stsd, "good.test") == 1, 30, "good.test to be confirmed")
    log(f"good.test confirmed after {time.time() - started:.1f}s; id {served_id(stsd, 'good.test')}")

    # Every fault is reported in plain words.
    for domain, words in expected.items():
        text = wait_until(lambda: (lambda t: t if words in t else None)(confirm_lines(stsd, domain)), 30,
                          f"{domain} status to say '{words}'")
        log(f"{domain}: {text}")

    # ...and nothing else ever confirms, over many more rounds than K and the soak.
    deadline = time.time() + 10
    while time.time() < deadline:
        for domain in expected:
            check(confirmed_version(stsd, domain) is None, f"{domain} was confirmed")
        time.sleep(1)
    for domain, words in expected.items():
        check(served_id(stsd, domain) is None, f"{domain} has a TXT record although nothing was confirmed")
        status = status_json(stsd, domain)
        failures = [e for e in status["events"] if e.get("kind") == "probe_failed"]
        check(failures and any(words in e.get("detail", "") for e in failures),
              f"{domain}: no probe_failed event with '{words}': {status['events']}")
        check(status["confirmed"] is None and status["pending"], status)
    plain = stsctl(stsd, "status", "expired.test").stdout
    check("certificate for mta-sts.expired.test expired 2 days ago" in plain, plain)
    log("plain `stsctl status expired.test`:\n" + plain)


if __name__ == "__main__":
    run_script(main)
