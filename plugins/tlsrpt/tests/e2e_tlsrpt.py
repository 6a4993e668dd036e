"""TLS-RPT intake end to end: the real stsd with `tlsrpt:` over HTTPS (a test certificate
made with openssl), the real curl as the reporter, stsctl for the policies. v1 is
confirmed, then v2; a report that applied v1 after v2's confirmation is flagged stale with
its reporter and counts in GET /v1/reports, `stsctl status` and the metrics. Bad input
over HTTPS gets the documented 4xx and changes nothing stored."""
import gzip
import json
import os
import subprocess
import time
import urllib.request

from harness import Stsd, TestClock, check, free_port, run_tests, wait_for

DAY = 86400
HTTPS_PORT = free_port()
METRICS_PORT = free_port()
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
        ttl: 300
tlsrpt:
  listen: ["127.0.0.1:HTTPS_PORT"]
  path: /tlsrpt
  certificate: intake.crt
  key: intake.key
  max_body_kib: 64
  max_report_kib: 1024
  requests_per_second: 1
  burst: 30
""".replace("HTTPS_PORT", str(HTTPS_PORT)).replace("METRICS_PORT", str(METRICS_PORT))

V1 = ["version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 86400"]
V2 = ["version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 604800"]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def report(org, report_id, start, lines, successful=40, failures=((3, "sts-webpki-invalid"),)):
    """The shape Google and Microsoft send: mx-host as a list, failure details per IP."""
    details = [{"result-type": kind, "sending-mta-ip": "209.85.220.41", "receiving-mx-hostname": "mx1.example.com",
                "receiving-ip": "192.0.2.25", "failed-session-count": count} for count, kind in failures]
    return {"organization-name": org,
            "date-range": {"start-datetime": iso(start), "end-datetime": iso(start + DAY - 1)},
            "contact-info": "smtp-tls-reporting@" + org, "report-id": report_id,
            "policies": [{"policy": {"policy-type": "sts", "policy-string": lines, "policy-domain": "example.com",
                                     "mx-host": ["mx1.example.com"]},
                          "summary": {"total-successful-session-count": successful,
                                      "total-failure-session-count": sum(c for c, _ in failures)},
                          "failure-details": details}]}


def https_post(server, body, content_type, method="POST", path="/tlsrpt"):
    """The reporter: curl over HTTPS with the test CA; returns (status, headers, body)."""
    cmd = ["curl", "-s", "-D", "-", "--cacert", os.path.join(server.dir, "intake.crt"),
           "--resolve", f"tlsrpt.provider.test:{HTTPS_PORT}:127.0.0.1", "-X", method,
           f"https://tlsrpt.provider.test:{HTTPS_PORT}{path}"]
    if body is not None:
        cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
    p = subprocess.run(cmd, capture_output=True, input=body, timeout=60)
    check(p.returncode == 0, f"curl failed: {p.stderr.decode()}")
    head, _, text = p.stdout.decode(errors="replace").partition("\r\n\r\n")
    status = int(head.split()[1])
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
               for line in head.split("\r\n")[1:] if ":" in line}
    return status, headers, text


def admin(server, method, path, body=None, content_type="application/json"):
    cmd = ["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", os.path.join(server.dir, "var/stsd.sock"),
           "-X", method, "http://localhost" + path]
    if body is not None:
        cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
    p = subprocess.run(cmd, capture_output=True, input=body, timeout=60)
    text, _, status = p.stdout.decode(errors="replace").rpartition("\n")
    return int(status), json.loads(text)


def metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as reply:
        return reply.read().decode()


def stsctl(server, *args):
    return server.run("stsctl", *args).stdout


def test_stale_report_is_flagged_everywhere(server):
    clock = server.clock
    stsctl(server, "domain", "add", "example.com")
    stsctl(server, "policy", "stage", "example.com", "--mode", "testing", "--mx", "mx1.example.com",
           "--max-age", "86400")
    stsctl(server, "policy", "confirm", "example.com", "--version", "1", "--reason", "v1")
    clock.set(server.start_time + 5 * DAY)
    stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx1.example.com",
           "--max-age", "604800")
    stsctl(server, "policy", "confirm", "example.com", "--version", "2", "--reason", "v2")
    v2_confirmed = clock.now()
    clock.set(server.start_time + 10 * DAY)
    # Google-like: gzip over HTTPS, applied v1 three days after v2 was confirmed.
    stale = gzip.compress(json.dumps(report("google.com", "g-1", v2_confirmed + 2 * DAY, V1)).encode())
    status, _, text = https_post(server, stale, "application/tlsrpt+gzip")
    check(status == 200, text)
    answer = json.loads(text)
    check(answer["stored"] is True and answer["duplicate"] is False, answer)
    check([(s["version"], s["confirmed_version"], s["reporter"]) for s in answer["stale"]] == [(1, 2, "google.com")],
          answer)
    # Microsoft-like, as JSON, applied v2: not stale.
    fresh = json.dumps(report("microsoft.com", "m-1", v2_confirmed + 2 * DAY, V2, successful=500,
                              failures=((2, "certificate-expired"),))).encode()
    status, _, text = https_post(server, fresh, "application/tlsrpt+json")
    check(status == 200 and json.loads(text)["stale"] == [], text)
    # The same report again through the admin API (what `stsctl reports ingest` sends).
    status, body = admin(server, "POST", "/v1/reports", stale, "application/tlsrpt+gzip")
    check(status == 200 and body["duplicate"] is True and body["stored"] is False, body)

    status, summary = admin(server, "GET", "/v1/reports?domain=example.com")
    check(status == 200, summary)
    check(summary["totals"] == {"successful": 540, "failed": 5}, summary)
    check(summary["failures"] == {"sts-webpki-invalid": 3, "certificate-expired": 2}, summary)
    check(len(summary["stale"]) == 1, summary)
    entry = summary["stale"][0]
    check((entry["reporter"], entry["version"], entry["confirmed_version"], entry["successful"], entry["failed"]) ==
          ("google.com", 1, 2, 40, 3), entry)
    status, everywhere = admin(server, "GET", "/v1/reports?stale=true")
    check(status == 200 and [d["domain"] for d in everywhere["domains"]] == ["example.com"], everywhere)

    printed = stsctl(server, "status", "example.com")
    check("tlsrpt" in printed and "STALE: google.com applied version 1 while version 2" in printed, printed)
    text = metrics()
    for line in ["stsd_tlsrpt_domains_stale 1", "stsd_tlsrpt_domains_failing 1",
                 'stsd_tlsrpt_reports_total{outcome="stored"} 2', 'stsd_tlsrpt_reports_total{outcome="duplicate"} 1',
                 'stsd_tlsrpt_sessions_total{result="sts-webpki-invalid"} 3',
                 'stsd_tlsrpt_sessions_total{result="successful"} 540']:
        check(line in text, f"no '{line}' in the metrics:\n" + "\n".join(l for l in text.splitlines() if "tlsrpt" in l))


def test_bad_input_gets_clear_refusals_and_changes_nothing(server):
    before = admin(server, "GET", "/v1/reports?domain=example.com")
    now = server.clock.now()
    missing = report("bad.example", "b-1", now - 2 * DAY, V2)
    del missing["policies"][0]["summary"]["total-failure-session-count"]
    unknown = report("bad.example", "b-2", now - 2 * DAY, V2)
    unknown["policies"][0]["policy"]["policy-domain"] = "elsewhere.example"
    bomb = gzip.compress(b" " * (8 << 20))
    cases = [
        (json.dumps(missing).encode(), "application/tlsrpt+json", 400,
         "policies[0].summary.total-failure-session-count: missing"),
        (b"{not json", "application/tlsrpt+json", 400, "report: not JSON"),
        (json.dumps(unknown).encode(), "application/tlsrpt+json", 400, "elsewhere.example is not in the store"),
        (b"{}", "application/json", 415, "neither application/tlsrpt+gzip"),
        (b" " * (65 << 10), "application/tlsrpt+json", 413, ""),
        (bomb, "application/tlsrpt+gzip", 413, "inflates to more than 1048576 octets"),
        (b"[" * 5000 + b"]" * 5000, "application/tlsrpt+json", 400, "nested deeper than 12 levels"),
    ]
    for body, content_type, status, words in cases:
        got, _, text = https_post(server, body, content_type)
        check(got == status, f"{content_type} {body[:40]!r}: HTTP {got}, expected {status}: {text[:300]}")
        check(words in text, f"no '{words}' in {text[:300]}")
    got, headers, _ = https_post(server, None, None, method="GET")
    check(got == 405 and headers.get("allow") == "POST", (got, headers))
    got, _, _ = https_post(server, b"{}", "application/tlsrpt+json", path="/elsewhere")
    check(got == 404, got)
    check(admin(server, "GET", "/v1/reports?domain=example.com") == before, "a refusal changed the stored reports")
    status, body = admin(server, "GET", "/v1/reports?domain=example.com&since=yesterday")
    check(status == 400 and "since" in body["error"], body)


def test_a_client_over_its_rate_gets_429(server):
    # burst 30, 1 per second: the 40th request in a row is over the client's rate.
    statuses = [https_post(server, b"{}", "application/tlsrpt+json")[:2] for _ in range(40)]
    limited = [headers for status, headers in statuses if status == 429]
    check(limited, [s for s, _ in statuses])
    check(all("retry-after" in headers for headers in limited), limited)


def main():
    server = Stsd(CONFIG, wait=False)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", os.path.join(server.dir, "intake.key"), "-out", os.path.join(server.dir, "intake.crt"),
                    "-days", "30", "-subj", "/CN=tlsrpt.provider.test",
                    "-addext", "subjectAltName=DNS:tlsrpt.provider.test"], check=True, capture_output=True)
    clock = TestClock(server.dir)
    server.env.update(clock.env)
    # The store's time never goes back: start 10 days in the past and move forward.
    server.start_time = time.time() - 10 * DAY
    clock.set(server.start_time)
    server.clock = clock
    server.wait = True
    server.start()
    tests = [test_stale_report_is_flagged_everywhere, test_bad_input_gets_clear_refusals_and_changes_nothing,
             test_a_client_over_its_rate_gets_429]

    def bound(test):
        def run():
            test(server)
        run.__name__ = test.__name__
        return run
    try:
        run_tests(None, [bound(test) for test in tests])
    finally:
        server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
