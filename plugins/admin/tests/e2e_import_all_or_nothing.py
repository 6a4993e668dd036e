"""An import with a late bad row applies nothing (issue 12, case 2).

With `service_zone` set, a 230-character domain is a valid name but leaves no room for
`_smtp._tls.<domain>.<service zone>.`; a row with 17 TLS-RPT rua URIs fits the 255-character
record but is over the store's limit of 16. Either one on line 1101 of a 1,200-row file
(three requests of 500 rows) must stop `stsctl import` in its checking pass, naming the
line, before the first request is applied. The API's dry run and its apply both refuse
such a row by its line, and the apply writes none of the request's rows, in both forms of
the request (JSON rows and a CSV body).

stsctl states the unit: a file is applied in requests of --batch-size rows, each whole or
not at all; when the server refuses a request of the second pass (the store changed or
failed in between; a stand-in server refuses the second one here), stsctl names the lines
of the request that applied nothing and of the requests that were applied."""
import json
import os
import threading
import urllib.parse

from admin_e2e import CONFIG, StandInHandler, UnixHttpServer, curl, stsctl, stsctl_json
from harness import check, run_tests

ROWS = 1200
BAD_LINE = 1101  # the header is line 1: row i is on line i + 2
# 192 + 38 characters: a valid name, too long once `_smtp._tls.` and the service zone are added.
LONG_DOMAIN = ".".join(c * 63 for c in "abc") + "." + "d" * 30 + ".example"
SEVENTEEN_RUA = [f"mailto:{c}@a.io" for c in "abcdefghijklmnopq"]  # a 253-character record


def write_file(server, name, rows):
    path = os.path.join(server.dir, name)
    with open(path, "w") as f:
        f.write("domain,mode,mx,max_age,tlsrpt_rua\n")
        for domain, rua in rows:
            f.write(f'{domain},enforce,mx.{domain},86400,"{" ".join(rua)}"\n')
    return path


def rows_with_bad_line(prefix, bad_row):
    rows = [(f"d{i}.{prefix}.example", ["mailto:tls@example.net"]) for i in range(ROWS)]
    rows[BAD_LINE - 2] = bad_row
    return rows


def domain_count(server):
    return stsctl_json(server, "version")["domains"]


def check_nothing_imported(server, before, prefix):
    check(domain_count(server) == before, f"{domain_count(server) - before} domains were imported")
    for i in (0, 499, 500, ROWS - 1):
        p = stsctl(server, "status", f"d{i}.{prefix}.example", rc=1)
        check("not in the store" in p.stderr, p.stderr)


def test_a_late_name_without_room_imports_nothing(server):
    check(len(LONG_DOMAIN) == 230, len(LONG_DOMAIN))
    before = domain_count(server)
    path = write_file(server, "long-name.csv", rows_with_bad_line("long", (LONG_DOMAIN, [])))
    p = stsctl(server, "import", path, "--confirm-now", "--reason", "migration", "--batch-size", "500", rc=1)
    check_nothing_imported(server, before, "long")
    check(f"line {BAD_LINE}" in p.stderr and "too long" in p.stderr and "sts.provider.test" in p.stderr, p.stderr)
    check("nothing was imported" in p.stderr, p.stderr)


def test_seventeen_rua_late_imports_nothing(server):
    before = domain_count(server)
    path = write_file(server, "many-rua.csv", rows_with_bad_line("rua", ("many-rua.example", SEVENTEEN_RUA)))
    p = stsctl(server, "import", path, "--confirm-now", "--reason", "migration", "--batch-size", "500", rc=1)
    check_nothing_imported(server, before, "rua")
    check(f"line {BAD_LINE}" in p.stderr and "at most 16" in p.stderr, p.stderr)
    check("nothing was imported" in p.stderr, p.stderr)


def api_row(line, domain, rua=()):
    return {"line": line, "domain": domain, "mode": "enforce", "mx": [f"mx.{domain}"], "max_age": 86400,
            "tlsrpt_rua": list(rua)}


def test_api_dry_run_and_apply_refuse_by_line(server):
    before = domain_count(server)
    rows = [api_row(2, "good.api.example"), api_row(3, LONG_DOMAIN), api_row(4, "many.api.example", SEVENTEEN_RUA),
            api_row(5, "also-good.api.example")]
    for dry_run in (True, False):
        body = {"rows": rows, "dry_run": dry_run, "confirm": True, "reason": "migration"}
        code, text = curl(server, "POST", "/v1/import", json.dumps(body))
        answer = json.loads(text)
        check(code == (200 if dry_run else 400), f"dry_run={dry_run}: HTTP {code}: {text[:500]}")
        errors = answer["errors"]
        check([e["line"] for e in errors] == [3, 4], f"dry_run={dry_run}: {errors}")
        check(errors[0]["error"].startswith("line 3: ") and "too long" in errors[0]["error"], errors)
        check(errors[1]["error"].startswith("line 4: ") and "at most 16" in errors[1]["error"], errors)
        if not dry_run:
            check("nothing in this request was applied" in answer["error"], answer)
        check(domain_count(server) == before, f"dry_run={dry_run}: {domain_count(server) - before} domains added")


def test_api_csv_dry_run_and_apply_refuse_by_file_line(server):
    """The CSV form: rows numbered from the query's `line`, a quoted line break counted."""
    before = domain_count(server)
    body = ("domain,mode,mx,max_age,tlsrpt_rua\r\n"
            'good.csv.example,enforce,"mx1.good.csv.example\nmx2.good.csv.example",86400,\r\n'
            f"{LONG_DOMAIN},enforce,mx.example,86400,\r\n"
            f'many.csv.example,enforce,mx.example,86400,"{" ".join(SEVENTEEN_RUA)}"\r\n'
            "bad-age.csv.example,enforce,mx.example,soon,\r\n"
            "also-good.csv.example,testing,mx.example,86400,\r\n")
    reason = urllib.parse.quote("migration from X")
    for dry_run in (True, False):
        target = f"/v1/import?line=40&confirm=true&reason={reason}" + ("&dry_run=true" if dry_run else "")
        code, text = curl(server, "POST", target, body, content_type="text/csv")
        answer = json.loads(text)
        check(code == (200 if dry_run else 400), f"dry_run={dry_run}: HTTP {code}: {text[:500]}")
        errors = answer["errors"]
        check([e["line"] for e in errors] == [42, 43, 44] and answer["error_count"] == 3, errors)
        check(errors[0]["error"].startswith("line 42: ") and "too long" in errors[0]["error"], errors)
        check(errors[1]["error"].startswith("line 43: ") and "at most 16" in errors[1]["error"], errors)
        check(errors[2]["error"] == "line 44: column max_age: 'soon' is not a whole number of seconds", errors)
        check(domain_count(server) == before, f"dry_run={dry_run}: {domain_count(server) - before} domains added")
    good = "domain,mode,mx,max_age\n" + "".join(f"g{i}.csv.example,enforce,mx.example,86400\n" for i in range(3))
    code, text = curl(server, "POST", f"/v1/import?line=7&confirm=true&reason={reason}", good, content_type="text/csv")
    answer = json.loads(text)
    check(code == 200, text)
    check({k: answer[k] for k in ("rows", "first_line", "last_line", "added", "staged", "unchanged", "confirmed",
                                  "warning_count")} ==
          {"rows": 3, "first_line": 7, "last_line": 9, "added": 3, "staged": 3, "unchanged": 0, "confirmed": 3,
           "warning_count": 0}, answer)
    code, text = curl(server, "POST", "/v1/import?confirm=true", good, content_type="text/csv")
    check(code == 400 and "'reason' is required" in text, text)


def test_a_good_import_states_its_all_or_nothing_unit(server):
    path = write_file(server, "good.csv", [(f"d{i}.good.example", []) for i in range(ROWS)])
    p = stsctl(server, "import", path, "--batch-size", "500")
    check(f"imported {ROWS} rows" in p.stdout, p.stdout)
    check("in 3 requests of up to 500 rows, each applied whole or not at all" in p.stdout, p.stdout)
    check(stsctl_json(server, "import", path, "--batch-size", "500")["requests"] == 3,
          "the JSON form counts the requests")
    check(stsctl_json(server, "import", path)["requests"] == 1, "by default, one request of up to 20000 rows")


class RefusesSecondApply(StandInHandler):
    """Stands in for stsd: accepts every dry run and the first apply, refuses the second."""
    applies = 0

    def do_POST(self):
        check(self.headers["Content-Type"] == "text/csv", self.headers)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        rows = len(body.splitlines()) - 1   # the header line, then one line per row here
        if query.get("dry_run") == ["true"]:
            self.answer(200, {"checked": rows, "errors": [], "error_count": 0})
            return
        RefusesSecondApply.applies += 1
        if RefusesSecondApply.applies == 2:
            self.answer(500, {"error": "store error: the disk is full"})
            return
        first = int(query["line"][0])
        self.answer(200, {"rows": rows, "first_line": first, "last_line": first + rows - 1, "added": rows,
                          "staged": rows, "unchanged": 0, "confirmed": 0, "warning_count": 0, "warnings": []})


def test_a_request_refused_in_the_second_pass_names_what_was_applied(server):
    path = write_file(server, "second-pass.csv", [(f"d{i}.pass.example", []) for i in range(ROWS)])
    socket_path = os.path.join(server.dir, "stand-in.sock")
    stand_in = UnixHttpServer(socket_path, RefusesSecondApply)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    try:
        p = stsctl(server, "--socket", socket_path, "import", path, "--batch-size", "500", rc=1)
    finally:
        stand_in.shutdown()
        stand_in.server_close()
    check("the disk is full; request 2 (lines 502-1001) applied nothing; the first request (lines up to 501) was "
          "imported; re-running skips those rows as unchanged" in p.stderr, p.stderr)


if __name__ == "__main__":
    run_tests(CONFIG, [test_a_late_name_without_room_imports_nothing, test_seventeen_rua_late_imports_nothing,
                       test_api_dry_run_and_apply_refuse_by_line, test_api_csv_dry_run_and_apply_refuse_by_file_line,
                       test_a_good_import_states_its_all_or_nothing_unit,
                       test_a_request_refused_in_the_second_pass_names_what_was_applied])
