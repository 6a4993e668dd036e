"""Bad input through stsctl and raw HTTP gets a clear error (exit 1 when the server
refuses, 2 for a wrong command line) and changes nothing: the store and what DNS serves
are the same before and after."""
import json
import os

from admin_e2e import CONFIG, curl, served_id, stsctl, stsctl_json
from harness import check, run_tests


def snapshot(server):
    """What an operator can observe, minus what moves with the clock."""
    listed = stsctl_json(server, "domain", "list")
    status = stsctl_json(server, "status", "example.com", "--events", "1000")
    dns_id = served_id(server, "example.com")
    check(dns_id == status["served_id"], (dns_id, status["served_id"]))
    for volatile in ("now", "next_rotation", "served_id", "txt"):
        status.pop(volatile, None)
    return listed, status


def setup(server):
    stsctl(server, "domain", "add", "example.com", "--tlsrpt-rua", "mailto:tls@example.com")
    stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx1.example.com", "--max-age", "604800")
    stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx2.example.com", "--max-age", "604800")
    stsctl(server, "policy", "confirm", "example.com", "--version", "2", "--reason", "served")
    stsctl(server, "policy", "stage", "example.com", "--mode", "testing", "--mx", "mx3.example.com", "--max-age", "604800")


def write(server, name, text):
    path = os.path.join(server.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


BAD_COMMANDS = [
    # (args, exit code, words the error must contain)
    (["domain", "add", "example.com"], 1, "already in the store"),
    (["domain", "add", "EXAMPLE.com."], 1, "already in the store"),
    (["domain", "add", "https://example.org"], 2, "is not a domain name"),
    (["domain", "add", "bad..example"], 1, "bad..example"),
    (["domain", "add", "192.0.2.1"], 1, "IP address"),
    (["domain", "add", "new.example", "--tlsrpt-rua", "ftp://reports.example"], 1, "tlsrpt_rua"),
    (["domain", "add", "new.example", "--vantage", "not-an-address"], 1, "vantages"),
    (["domain", "set", "example.com", "--tlsrpt-rua", "reports@example.com"], 1, "tlsrpt_rua"),
    (["domain", "remove", "unknown.example"], 1, "not in the store"),
    (["policy", "stage", "example.com", "--mode", "enforced", "--mx", "mx.example.com", "--max-age", "86400"], 1,
     "'enforced' is not enforce, testing or none"),
    (["policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx.example.com", "--max-age", "31557601"], 1,
     "max_age"),
    (["policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx.example.com", "--max-age", "-5"], 2,
     "not a whole number"),
    (["policy", "stage", "example.com", "--mode", "enforce", "--mx", "192.0.2.25", "--max-age", "86400"], 1, "mx"),
    (["policy", "stage", "example.com", "--mode", "enforce", "--mx", "*.*.example.com", "--max-age", "86400"], 1, "mx"),
    (["policy", "stage", "example.com", "--mode", "enforce", "--max-age", "86400"], 1, "mx"),
    (["policy", "stage", "unknown.example", "--mode", "enforce", "--mx", "m.example", "--max-age", "86400"], 1,
     "not in the store"),
    (["policy", "stage", "example.com", "--policy-file", "{dir}/blank-line.txt"], 1, "line"),
    (["policy", "stage", "example.com", "--policy-file", "{dir}/missing.txt"], 2, "cannot open"),
    (["policy", "confirm", "example.com", "--version", "99", "--reason", "x"], 1, "has no version 99"),
    (["policy", "confirm", "example.com", "--version", "1", "--reason", "rollback"], 1, "older than the confirmed"),
    (["policy", "confirm", "example.com", "--version", "3"], 2, "--reason is required"),
    (["policy", "confirm", "example.com", "--version", "3", "--reason", "   "], 1, "reason"),
    (["policy", "confirm", "example.com", "--version", "three", "--reason", "x"], 2, "not a whole number"),
    (["status", "unknown.example"], 1, "not in the store"),
    (["import", "{dir}/bad-rows.csv"], 1, "nothing was imported"),
    (["import", "{dir}/bad-rows.csv"], 1, "line 3"),
    (["import", "{dir}/bad-rows.csv"], 1, "line 5"),
    (["import", "{dir}/unclosed.csv"], 1, "never closed"),
    (["import", "{dir}/bad-header.csv"], 1, "unknown column 'policy'"),
    (["import", "{dir}/missing.csv"], 2, "cannot"),
    (["import", "{dir}/good-rows.csv", "--confirm-now"], 2, "--confirm-now needs --reason"),
]


def test_bad_commands_change_nothing(server):
    setup(server)
    write(server, "blank-line.txt", "version: STSv1\n\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n")
    write(server, "bad-rows.csv",
          "domain,mode,mx,max_age\n"
          "fresh1.example,enforce,mx.fresh1.example,86400\n"
          "fresh2.example,sometimes,mx.fresh2.example,86400\n"
          "fresh3.example,enforce,\"mx1.fresh3.example mx2.fresh3.example\",86400\n"
          "fresh4.example,enforce,192.0.2.4,86400\n")
    write(server, "unclosed.csv", "domain,mode,mx,max_age\nfresh5.example,enforce,\"mx.fresh5.example,86400\n")
    write(server, "bad-header.csv", "domain,policy\nfresh6.example,enforce\n")
    write(server, "good-rows.csv", "domain,mode,mx,max_age\nfresh7.example,enforce,mx.fresh7.example,86400\n")
    before = snapshot(server)
    for args, rc, words in BAD_COMMANDS:
        args = [a.replace("{dir}", server.dir) for a in args]
        p = stsctl(server, *args, rc=rc)
        check(words in p.stderr, f"stsctl {' '.join(args)}: expected {words!r} in:\n{p.stderr}")
        check("stsctl: " in p.stderr and p.stdout == "", f"stsctl {' '.join(args)}: {p.stdout}{p.stderr}")
        check(snapshot(server) == before, f"stsctl {' '.join(args)} changed the store")


def test_bad_http_requests_change_nothing(server):
    before = snapshot(server)
    cases = [
        ("POST", "/v1/domains", "{\"domain\": ", 400, "not valid JSON"),
        ("POST", "/v1/domains", "[" * 200000, 400, "nests deeper"),
        ("POST", "/v1/domains", json.dumps({"domain": "x.example", "colour": "red"}), 400, "field 'colour'"),
        ("POST", "/v1/domains/example.com/policies", json.dumps({"mode": "enforce", "mx": "mx.example.com",
                                                                 "max_age": "86400"}), 400, "field 'max_age'"),
        ("POST", "/v1/domains/example.com/confirm", json.dumps({"version": 3}), 400, "field 'reason'"),
        ("POST", "/v1/import", json.dumps({"rows": [{"domain": "i.example", "mode": "enforce", "mx": ["m.i.example"],
                                                     "max_age": 86400, "extra": 1}]}), 400, "unknown field"),
        ("POST", "/v1/import", "{\"rows\": [" + ",".join(["{}"] * 6000) + "]}", 400, "at most 5000"),
        ("POST", "/v1/domains", "x" * (33 * 1024 * 1024), 413, "smaller batches"),
        ("DELETE", "/v1/domains", None, 405, "not allowed"),
        ("GET", "/v1/nothing", None, 404, "no such endpoint"),
    ]
    for method, path, body, status, words in cases:
        code, text = curl(server, method, path, body)
        check(code == status, f"{method} {path}: HTTP {code}, expected {status}: {text[:300]}")
        check(words in json.loads(text)["error"], f"{method} {path}: {text[:300]}")
        check(snapshot(server) == before, f"{method} {path} changed the store")
    code, text = curl(server, "POST", "/v1/domains", "{\"domain\":\"t.example\"}", content_type="text/plain")
    check(code == 415, text)
    check(snapshot(server) == before, "a refused content type changed the store")
    header = "domain,mode,mx,max_age\n"
    csv_cases = [
        ("/v1/domains", "domain\nt.example\n", 415, "takes a JSON body"),
        ("/v1/import", "", 400, "the body is empty"),
        ("/v1/import", "domain,mode,colour\n", 400, "unknown column 'colour'"),
        ("/v1/import", header + "a.example,enforce,mx.example,86400\n\"open,enforce\n", 400, "never closed"),
        ("/v1/import?line=1", header + "a.example,enforce,mx.example,86400\n", 400, "query parameter 'line'"),
        ("/v1/import", header + "".join(f"r{i}.example,none,,1\n" for i in range(50001)), 400, "more than 50000"),
    ]
    for path, body, status, words in csv_cases:
        code, text = curl(server, "POST", path, body, content_type="text/csv")
        check(code == status, f"CSV to {path}: HTTP {code}, expected {status}: {text[:300]}")
        check(words in json.loads(text)["error"], f"CSV to {path}: {text[:300]}")
        check(snapshot(server) == before, f"CSV to {path} changed the store")


def test_server_still_answers_after_all_that(server):
    p = stsctl(server, "policy", "confirm", "example.com", "--version", "3", "--reason", "finally")
    check("version 3" in p.stdout, p)
    check("v3d" in served_id(server, "example.com", tcp=True), "the good write after the bad ones")


if __name__ == "__main__":
    run_tests(CONFIG, [test_bad_commands_change_nothing, test_bad_http_requests_change_nothing,
                       test_server_still_answers_after_all_that])
