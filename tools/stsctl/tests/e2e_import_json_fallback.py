"""`stsctl import` against an stsd from before the CSV body: such a server answers 415 to
`Content-Type: text/csv` and takes the rows as JSON, at most 5000 a request. stsctl then
says so once on stderr and sends the same file as JSON rows, re-cut to 5000 a request,
with the same guarantees: a checking pass (dry run) before anything is applied, progress
lines naming the line reached, and a stopped import naming the whole requests applied.

The one stand-in here: a JSON-only gate on a unix socket in front of the real stsd of this
build. It answers a text/csv body with the 415 and the message of stsd before the CSV body
(plugins/admin/http_server.cpp at commit 67fa204) and passes every JSON body on to the real
stsd unchanged, recording each request; the rows are checked, applied and stored by the
real server. (A real old binary is not part of the build; stsctl was also checked by hand
against stsd built from 67fa204.)"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_DIR"], "plugins", "admin", "tests"))
from admin_e2e import CONFIG, StandInHandler, UnixConnection, UnixHttpServer, stsctl, stsctl_json  # noqa: E402
from harness import check, run_tests  # noqa: E402

ROWS = 12001  # three requests of JSON rows: 5000, 5000 and 2001
JSON_ROWS_PER_REQUEST = 5000
OLD_SERVER_415 = {"error": "send the body as Content-Type: application/json"}


class JsonOnlyGate:
    """Stands in for stsd before the CSV body, over the real stsd. `answer_instead(kind,
    index)` may return (status, document) to answer the `index`-th request (from 1) of a
    kind ("csv", "dry_run", "apply") itself."""

    def __init__(self, server, answer_instead=lambda kind, index: None):
        self.real_socket = os.path.join(server.dir, "var/stsd.sock")
        self.socket_path = os.path.join(server.dir, "json-only.sock")
        self.answer_instead = answer_instead
        self.requests = []  # (kind, the JSON body or None)
        gate = self

        class Handler(StandInHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                media_type = self.headers.get("Content-Type", "")
                check(self.path.split("?")[0] == "/v1/import", self.path)
                document = json.loads(body) if media_type == "application/json" else None
                kind = "csv" if document is None else "dry_run" if document.get("dry_run") else "apply"
                gate.requests.append((kind, document))
                instead = gate.answer_instead(kind, sum(1 for k, _ in gate.requests if k == kind))
                if instead is None and document is None:
                    instead = (415, OLD_SERVER_415)
                if instead is not None:
                    self.answer(*instead)
                    return
                real = UnixConnection(gate.real_socket)
                try:
                    real.request("POST", self.path, body, {"Content-Type": media_type})
                    answer = real.getresponse()
                    self.answer(answer.status, json.loads(answer.read()))
                finally:
                    real.close()

        self.http = UnixHttpServer(self.socket_path, Handler)

    def __enter__(self):
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.http.shutdown()
        self.http.server_close()
        os.unlink(self.socket_path)
        return False

    def of_kind(self, kind):
        return [document for k, document in self.requests if k == kind]


def write_file(server, name, domains):
    path = os.path.join(server.dir, name)
    with open(path, "w") as f:
        f.write("domain,mode,mx,max_age,tlsrpt_rua\n")
        for domain in domains:
            f.write(f'{domain},enforce,"mx1.{domain} mx2.{domain}",86400,mailto:tls@example.net\n')
    return path


def expected_rows(domains):
    return [{"line": i + 2, "domain": d, "mode": "enforce", "mx": [f"mx1.{d}", f"mx2.{d}"], "max_age": 86400,
             "tlsrpt_rua": ["mailto:tls@example.net"]} for i, d in enumerate(domains)]


def notices(stderr):
    return [line for line in stderr.splitlines() if "415" in line]


def check_pass_sent_every_row(requests, domains, what):
    check(requests and all(len(r["rows"]) <= JSON_ROWS_PER_REQUEST for r in requests),
          f"{what}: requests of {[len(r['rows']) for r in requests]} rows")
    sent = [row for r in requests for row in r["rows"]]
    check(sent == expected_rows(domains), f"{what}: {len(sent)} rows sent, not the file's {len(domains)} in order")
    check(all(r.get("confirm") is True and r.get("reason") == "moved from the old provider" for r in requests),
          f"{what}: the options go with every request")


def test_an_old_server_gets_the_rows_as_json_in_requests_of_5000(server):
    domains = [f"d{i}.old.example" for i in range(ROWS)]
    path = write_file(server, "old.csv", domains)
    before = stsctl_json(server, "version")["domains"]
    with JsonOnlyGate(server) as gate:
        p = stsctl(server, "--socket", gate.socket_path, "import", path, "--confirm-now", "--reason",
                   "moved from the old provider")
    check([k for k, _ in gate.requests] == ["csv"] + ["dry_run"] * 3 + ["apply"] * 3,
          [k for k, _ in gate.requests])
    check_pass_sent_every_row(gate.of_kind("dry_run"), domains, "checking pass")
    check_pass_sent_every_row(gate.of_kind("apply"), domains, "applying pass")
    check(len(notices(p.stderr)) == 1 and "sending them as JSON" in p.stderr and
          "send the body as Content-Type: application/json" in p.stderr, p.stderr)
    check("import: checking: 5000 rows, line 5001" in p.stderr, p.stderr)
    check("import: importing: 5000 rows, line 5001" in p.stderr, p.stderr)
    check(f"imported {ROWS} rows from {path} in 3 requests of up to 5000 rows, each applied whole or not at all: "
          f"{ROWS} domains added, {ROWS} versions staged, 0 unchanged, {ROWS} confirmed" in p.stdout, p.stdout)
    check(stsctl_json(server, "version")["domains"] == before + ROWS, "the real store has every row")
    last = stsctl_json(server, "status", domains[-1])
    check(last["confirmed"]["version"] == 1 and last["confirmed"]["mx"] == [f"mx1.{domains[-1]}", f"mx2.{domains[-1]}"],
          last)


def test_bad_rows_are_named_by_line_and_nothing_is_applied(server):
    path = os.path.join(server.dir, "bad.csv")
    with open(path, "w") as f:
        f.write("domain,mode,mx,max_age\na.bad.example,enforce,mx.a,86400\nb.bad.example,enforced,mx.b,86400\n"
                "c.bad.example,none,,soon\nd.bad.example,testing,mx.d,86400\n")
    with JsonOnlyGate(server) as gate:
        p = stsctl(server, "--socket", gate.socket_path, "import", path, rc=1)
    check([k for k, _ in gate.requests] == ["csv", "dry_run"], gate.requests)
    check(f"{path}: line 3: field 'mode': 'enforced' is not enforce, testing or none\n"
          f"{path}: line 4: column max_age: 'soon' is not a whole number of seconds\n" in p.stderr, p.stderr)
    check("2 bad rows in" in p.stderr and "nothing was imported" in p.stderr, p.stderr)
    stsctl(server, "status", "a.bad.example", rc=1)


def test_a_stopped_import_names_the_whole_requests_applied(server):
    domains = [f"d{i}.stopped.example" for i in range(ROWS)]
    path = write_file(server, "stopped.csv", domains)

    def refuse_second_apply(kind, index):
        return (500, {"error": "store error: the disk is full"}) if (kind, index) == ("apply", 2) else None

    with JsonOnlyGate(server, refuse_second_apply) as gate:
        p = stsctl(server, "--socket", gate.socket_path, "import", path, "--confirm-now", "--reason",
                   "moved from the old provider", rc=1)
    check([k for k, _ in gate.requests] == ["csv"] + ["dry_run"] * 3 + ["apply"] * 2, gate.requests)
    check("the disk is full; request 2 (lines 5002-10001) applied nothing; the first request (lines up to 5001) "
          "was imported; re-running skips those rows as unchanged" in p.stderr, p.stderr)
    check(stsctl_json(server, "status", domains[4999])["confirmed"]["version"] == 1, "request 1 was applied")
    stsctl(server, "status", domains[5000], rc=1)


def test_a_415_to_the_json_rows_is_an_error_not_a_loop(server):
    path = write_file(server, "refused.csv", ["a.refused.example"])
    with JsonOnlyGate(server, lambda kind, index: (415, OLD_SERVER_415)) as gate:
        p = stsctl(server, "--socket", gate.socket_path, "import", path, rc=1)
    check([k for k, _ in gate.requests] == ["csv", "dry_run"], gate.requests)
    check("stsctl: send the body as Content-Type: application/json; nothing was imported" in p.stderr, p.stderr)


def test_other_answers_to_the_csv_body_are_errors_as_before(server):
    path = write_file(server, "other.csv", ["a.other.example"])
    for status in (400, 500, 503):
        refuse_csv = (lambda kind, index: (status, {"error": f"refused with {status}"}) if kind == "csv" else None)
        with JsonOnlyGate(server, refuse_csv) as gate:
            p = stsctl(server, "--socket", gate.socket_path, "import", path, rc=1)
        check([k for k, _ in gate.requests] == ["csv"], f"HTTP {status}: {gate.requests}")
        check(f"stsctl: refused with {status}; nothing was imported" in p.stderr and not notices(p.stderr), p.stderr)


if __name__ == "__main__":
    run_tests(CONFIG, [test_an_old_server_gets_the_rows_as_json_in_requests_of_5000,
                       test_bad_rows_are_named_by_line_and_nothing_is_applied,
                       test_a_stopped_import_names_the_whole_requests_applied,
                       test_a_415_to_the_json_rows_is_an_error_not_a_loop,
                       test_other_answers_to_the_csv_body_are_errors_as_before])
