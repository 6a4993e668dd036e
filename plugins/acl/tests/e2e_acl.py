"""The acl plugin behind the real binary, queried with kdig from 127.0.0.1 and, with -b,
from other loopback addresses as other clients, over UDP and TCP: deny (REFUSED with EDE 18
"Prohibited", RFC 8914 §4.19, visible in kdig's output), drop (no answer; the server goes
on answering others), allow and no match (answered by the zone), the first matching rule
deciding; transfers refused by the acl before the transfer plugin's own `allow` list and
by that list (EDE 18 too). Last, parity with knotd 3.2 for a name outside every zone:
REFUSED with EDE 20 "Not Authoritative" and no text, and no OPT without EDNS."""
import socket
import subprocess

from harness import SOURCE_DIR, build_query, check, extended_errors, kdig, query, run_tests
from secondaries import KnotPrimary, TsigKey

CONFIG = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      acl:
        rules:
          - {action: deny, from: 127.0.0.2, types: [AXFR, IXFR]}
          - {action: drop, from: 127.0.0.3}
          - {action: deny, from: 127.0.0.2, types: [TXT]}
          - {action: allow, from: 127.0.0.2}
          - {action: deny, types: [ANY]}
      transfer:
        allow:
          - {prefix: 127.0.0.1}
          - {prefix: 127.0.0.2}
      file:
        - zone: core.test.
          path: {source}/tests/e2e/zones/core.test.zone
"""

AXFR_RECORDS = 47  # the 46 of tests/e2e/zones/core.test.zone, the SOA twice
PROHIBITED, NOT_AUTHORITATIVE = 18, 20
TRANSPORTS = (False, True)  # UDP, TCP


def ede_line(code, name, text=None):
    """kdig's line for an Extended DNS Error."""
    return f";; EDE: {code} ({name})" + (f": '{text}'" if text is not None else "")


def test_no_rule_matches_and_the_zone_answers(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.core.test", "A", tcp=tcp)
        check(r.rcode == "NOERROR" and r.rdatas("A") == ["192.0.2.80"], r)
        check(";; EDE" not in r.text, r.text)


def test_deny_is_refused_with_extended_error_18(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.core.test", "TXT", tcp=tcp, args=["-b", "127.0.0.2", "+edns"])
        check(r.rcode == "REFUSED" and "aa" not in r.flags and not r.answer, r)
        check(ede_line(PROHIBITED, "Prohibited", "denied by acl rules[2]") in r.text, r.text)
        # A later rule allows 127.0.0.2 everything else.
        r = kdig(s, "www.core.test", "A", tcp=tcp, args=["-b", "127.0.0.2"])
        check(r.rcode == "NOERROR" and r.rdatas("A") == ["192.0.2.80"], r)


def test_first_matching_rule_decides(s):
    # ANY: denied for every address but 127.0.0.2, which rules[3] allows before rules[4].
    for tcp in TRANSPORTS:
        r = kdig(s, "www.core.test", "ANY", tcp=tcp, args=["+edns"])
        check(r.rcode == "REFUSED", r)
        check(ede_line(PROHIBITED, "Prohibited", "denied by acl rules[4]") in r.text, r.text)
        r = kdig(s, "www.core.test", "ANY", tcp=tcp, args=["-b", "127.0.0.2"])
        check(r.rcode == "NOERROR" and r.answer, r)


def test_refusal_without_edns_carries_no_opt(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.core.test", "TXT", tcp=tcp, args=["-b", "127.0.0.2", "+noedns"])
        check(r.rcode == "REFUSED" and r.edns is None and ";; EDE" not in r.text, r)


def kdig_gets_no_answer(s, source, tcp):
    cmd = ["kdig", f"@{s.host}", "-p", str(s.port), "-b", source, "www.core.test", "A", "+time=1", "+retry=0"]
    p = subprocess.run(cmd + (["+tcp"] if tcp else []), capture_output=True, text=True, timeout=15)
    return p.returncode != 0 and "->>HEADER<<-" not in p.stdout, p.stdout + p.stderr


def test_drop_sends_nothing_and_others_are_answered(s):
    for tcp in TRANSPORTS:
        silent, output = kdig_gets_no_answer(s, "127.0.0.3", tcp)
        check(silent, output)
        r = kdig(s, "www.core.test", "A", tcp=tcp)
        check(r.rcode == "NOERROR", r)
    # Over TCP the connection stays open: a dropped query and then nothing, not a close.
    with socket.create_connection((s.host, s.port), timeout=1, source_address=("127.0.0.3", 0)) as c:
        msg = build_query("www.core.test", "A")
        c.sendall(len(msg).to_bytes(2, "big") + msg)
        try:
            data = c.recv(2)
            check(False, f"got {data!r} for a dropped query")
        except socket.timeout:
            pass


def transfer(s, source, tcp=True):
    """An AXFR from `source`, through the stdlib client (kdig's transfer mode prints no
    EDE). Over UDP the acl refuses it before the transfer plugin's NOTIMP."""
    return query(s, "core.test", "AXFR", tcp=tcp, edns={"size": 1232}, source=source)


def test_transfers_pass_the_acl_and_then_transfer_allow(s):
    # 127.0.0.1: no acl rule matches, transfer.allow holds it.
    t = subprocess.run(["kdig", f"@{s.host}", "-p", str(s.port), "core.test", "AXFR"], capture_output=True,
                       text=True, timeout=15)
    check(f"{AXFR_RECORDS} records)" in t.stdout and ";; ERROR" not in t.stdout, t.stdout)
    # 127.0.0.2: on transfer.allow, but the acl refuses first.
    for tcp in TRANSPORTS:
        r = transfer(s, "127.0.0.2", tcp=tcp)
        check(r.rcode == "REFUSED" and not r.answer, r)
        check(extended_errors(r) == [(PROHIBITED, "denied by acl rules[0]")], r.edns)
    # 127.0.0.4: the acl lets it through, transfer.allow does not hold it.
    r = transfer(s, "127.0.0.4")
    check(r.rcode == "REFUSED" and not r.answer, r)
    check(extended_errors(r) == [(PROHIBITED, "transfer not allowed")], r.edns)


def test_outside_every_zone_as_knot(s):
    """Knot 3.2 answers a name it has no zone for REFUSED with EDE 20 and no text; stsd's
    core answers the same, over UDP and TCP, and without OPT to a query without EDNS."""
    with open(f"{SOURCE_DIR}/tests/e2e/zones/core.test.zone") as f:
        zone = f.read()
    with KnotPrimary({"core.test.": zone}, TsigKey.generate(), "catalog.invalid.") as knot:
        for tcp in TRANSPORTS:
            got = {}
            for name, server in (("knotd", knot.address), ("stsd", s)):
                r = query(server, "www.example.net", "A", tcp=tcp, edns={"size": 1232})
                plain = query(server, "www.example.net", "A", tcp=tcp)
                got[name] = (r.rcode, "aa" in r.flags, extended_errors(r), plain.rcode, plain.edns)
            check(got["stsd"] == got["knotd"], got)
            check(got["stsd"] == ("REFUSED", False, [(NOT_AUTHORITATIVE, "")], "REFUSED", None), got)
        r = kdig(s, "www.example.net", "A", args=["+edns"])
        check(ede_line(NOT_AUTHORITATIVE, "Not Authoritative") in r.text, r.text)


if __name__ == "__main__":
    run_tests(CONFIG, [test_no_rule_matches_and_the_zone_answers, test_deny_is_refused_with_extended_error_18,
                       test_first_matching_rule_decides, test_refusal_without_edns_carries_no_opt,
                       test_drop_sends_nothing_and_others_are_answered,
                       test_transfers_pass_the_acl_and_then_transfer_allow, test_outside_every_zone_as_knot])
