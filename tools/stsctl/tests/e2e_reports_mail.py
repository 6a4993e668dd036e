"""TLS-RPT by mail end to end (issue 17): the real stsd with the tlsrpt plugin (admin API
only) and `tlsrpt_rua_default`, report mails in the shapes Google and Microsoft send, fed
to `stsctl reports ingest` on stdin (as an MTA pipe transport does) and from a maildir.
v1 is confirmed, then v2; a mail whose report applied v1 after v2's confirmation is
flagged stale with its reporter and counts in `stsctl reports`, `reports --stale`,
`status` and the metrics; the exit codes are the ones a mail transport acts on."""
import glob
import json
import os
import sys
import time
import urllib.request

from harness import Stsd, TestClock, check, free_port, kdig, run_tests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mail"))
import tlsrpt_mail  # noqa: E402  (beside this file)

DAY = 86400
METRICS_PORT = free_port()
INTAKE = "mailto:tlsrpt@provider.test"
CONFIG = """
storage: var/stsd.db
admin: { socket: var/stsd.sock }
metrics: { listen: "127.0.0.1:METRICS_PORT" }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        service_zone: sts.provider.test.
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        tlsrpt_rua_default: ["INTAKE"]
tlsrpt:
  unknown_domains: refuse
""".replace("METRICS_PORT", str(METRICS_PORT)).replace("INTAKE", INTAKE)
# The same without the tlsrpt plugin (and without the metrics listener the first one holds).
WITHOUT_TLSRPT = "\n".join(line for line in CONFIG[:CONFIG.index("tlsrpt:\n")].splitlines()
                           if not line.startswith("metrics:"))

V1 = ["version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 86400"]
V2 = ["version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 604800"]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def ingest(server, *args, mail=None, rc=0):
    p = server.run("stsctl", "reports", "ingest", *args, check_rc=False,
                   input=None if mail is None else mail.decode("ascii"))
    check(p.returncode == rc, f"reports ingest {' '.join(args)} exited {p.returncode}, expected {rc}\n"
                              f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def stsctl(server, *args):
    return server.run("stsctl", *args).stdout


def metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as reply:
        return reply.read().decode()


def mail_of(shape, organization, report_id, start, lines, successful, failed, domain="example.com",
            result_type="sts-webpki-invalid"):
    document = tlsrpt_mail.report(organization, report_id, domain, iso(start), iso(start + DAY - 1), lines,
                                  successful, failed, result_type=result_type)
    return shape(domain, tlsrpt_mail.gzipped(document), begin=start, end=start + DAY - 1)


def test_stale_report_by_mail(server):
    clock = server.clock
    stsctl(server, "domain", "add", "example.com")
    # The rua senders find points at the provider's intake (no rua of its own).
    answer = kdig(server, "_smtp._tls.example.com.sts.provider.test.", "TXT")
    check(answer.rdatas("TXT") == [f'"v=TLSRPTv1; rua={INTAKE}"'], answer)
    stsctl(server, "policy", "stage", "example.com", "--mode", "testing", "--mx", "mx1.example.com",
           "--max-age", "86400")
    stsctl(server, "policy", "confirm", "example.com", "--version", "1", "--reason", "v1 served")
    clock.set(server.start_time + 5 * DAY)
    stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx1.example.com",
           "--max-age", "604800")
    stsctl(server, "policy", "confirm", "example.com", "--version", "2", "--reason", "v2 served")
    v2_confirmed = clock.now()
    clock.set(server.start_time + 10 * DAY)
    report_start = int(v2_confirmed + 2 * DAY) // DAY * DAY

    # Google-like mail on stdin, as an MTA pipe transport hands it over: it applied v1.
    google = mail_of(tlsrpt_mail.google_like, "Google Inc.", "g-1", report_start, V1, 1200, 3)
    p = ingest(server, mail=google)
    check("stdin: stored: report g-1 from Google Inc. for example.com" in p.stdout, p.stdout)
    check("stdin: stale: Google Inc. applied version 1 while version 2 was confirmed" in p.stdout, p.stdout)
    # The same mail again (the MTA retried): counted once.
    p = ingest(server, mail=google)
    check("already stored (counted once)" in p.stdout, p.stdout)

    # A maildir: a Microsoft-like mail that applied v2, a mail without a report, and the
    # Google mail once more in cur/ (unseen).
    maildir = os.path.join(server.dir, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    microsoft = mail_of(tlsrpt_mail.microsoft_like, "Microsoft Corporation", "m-1", report_start, V2, 500, 2,
                        result_type="certificate-expired")
    files = {"new/1764500000.M1P1.mx": microsoft, "cur/1764500001.M2P1.mx:2,": google,
             "new/1764500002.M3P1.mx": b"From: someone@example.net\r\nSubject: hi\r\n\r\nno report\r\n"}
    for name, data in files.items():
        with open(os.path.join(maildir, name), "wb") as f:
            f.write(data)
    p = ingest(server, "--maildir", maildir, rc=65)
    check(f"{maildir}: 3 messages, 1 reports stored, 1 already stored, 1 refused; 1 left in place" in p.stdout,
          p.stdout)
    check("new/1764500002.M3P1.mx: no application/tlsrpt+gzip or application/tlsrpt+json part" in p.stderr, p.stderr)
    left = sorted(os.path.relpath(f, maildir) for f in glob.glob(os.path.join(maildir, "*", "*")))
    check(left == ["cur/1764500000.M1P1.mx:2,S", "cur/1764500001.M2P1.mx:2,S", "new/1764500002.M3P1.mx"], left)
    # The next run finds only the refused one.
    p = ingest(server, "--maildir", maildir, rc=65)
    check(f"{maildir}: 1 message, 0 reports stored" in p.stdout, p.stdout)

    printed = stsctl(server, "reports", "example.com")
    check("sessions:       1700 successful, 5 failed sessions" in printed, printed)
    check("failures:       sts-webpki-invalid 3, certificate-expired 2" in printed, printed)
    check("stale:          Google Inc. applied version 1 while version 2 was confirmed" in printed, printed)
    check(": 1200 successful, 3 failed sessions" in printed, printed)
    document = json.loads(stsctl(server, "--json", "reports", "example.com"))
    stale = document["stale"]
    check([(s["reporter"], s["version"], s["confirmed_version"], s["successful"], s["failed"]) for s in stale] ==
          [("Google Inc.", 1, 2, 1200, 3)], document)
    everywhere = stsctl(server, "reports", "--stale")
    check(everywhere.startswith("example.com: Google Inc. applied version 1 while version 2 was confirmed"),
          everywhere)
    check("1 domain with stale policy versions in use" in everywhere, everywhere)
    status = stsctl(server, "status", "example.com")
    check("STALE" in status and "applied version 1" in status, status)
    text = metrics()
    check("stsd_tlsrpt_domains_stale 1" in text, "\n".join(l for l in text.splitlines() if "tlsrpt" in l))


def test_refusals_and_exit_codes(server):
    now = server.clock.now()
    # A report for a domain stsd does not serve: refused by the server, named.
    elsewhere = mail_of(tlsrpt_mail.google_like, "Google Inc.", "g-x", int(now - 2 * DAY) // DAY * DAY, V2, 5, 0,
                        domain="elsewhere.example")
    p = ingest(server, mail=elsewhere, rc=65)
    check("refused by stsd:" in p.stderr and "elsewhere.example" in p.stderr, p.stderr)
    # Broken MIME: refused by stsctl before anything is sent.
    whole = mail_of(tlsrpt_mail.google_like, "Google Inc.", "g-y", int(now - 2 * DAY) // DAY * DAY, V2, 5, 0)
    p = ingest(server, mail=whole[:whole.index(b"H4sI") + 40], rc=65)
    check("cut short" in p.stderr, p.stderr)
    # stsd not reachable: the MTA keeps the mail and retries.
    p = ingest(server, "--socket", os.path.join(server.dir, "nowhere.sock"), mail=whole, rc=75)
    check("not ingested, try again later: cannot connect" in p.stderr, p.stderr)
    # A stsd without the tlsrpt plugin: the same.
    with Stsd(WITHOUT_TLSRPT) as bare:
        p = ingest(bare, mail=whole, rc=75)
        check("takes no TLS-RPT reports (is the tlsrpt plugin configured?)" in p.stderr, p.stderr)


def main():
    server = Stsd(CONFIG, wait=False)
    clock = TestClock(server.dir)
    server.env.update(clock.env)
    # The store's time never goes back: start 10 days in the past and move forward.
    server.start_time = time.time() - 10 * DAY
    clock.set(server.start_time)
    server.clock = clock
    server.wait = True
    server.start()

    def bound(test):
        def run():
            test(server)
        run.__name__ = test.__name__
        return run
    try:
        run_tests(None, [bound(test_stale_report_by_mail), bound(test_refusals_and_exit_codes)])
    finally:
        server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
