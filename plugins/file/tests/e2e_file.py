"""The file plugin behind the real binary: zones/example.org.zone queried with kdig over
UDP and TCP (SOA, NXDOMAIN, NODATA, empty non-terminal, referral, wildcard, CNAME,
ANY, REFUSED outside the zone), a bad zone file refused by --check-config with its file
and line, and SIGHUP picking up an edited zone while a broken one keeps the old."""
import os
import shutil
import signal
import subprocess
import tempfile

from harness import STSD_BIN, Stsd, check, kdig, query, run_tests, wait_for

CONFIG = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: example.org.
          path: {source}/zones/example.org.zone
"""

TRANSPORTS = (False, True)  # UDP, then TCP


def test_soa_at_apex(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "example.org", "SOA", tcp=tcp)
        check(r.rcode == "NOERROR" and "aa" in r.flags, r)
        check(len(r.rdatas("SOA")) == 1 and r.rdatas("SOA")[0].startswith("ns1.example.org. hostmaster.example.org. 2024060101"), r)


def test_exact_answer(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.example.org", "AAAA", tcp=tcp)
        check(r.rcode == "NOERROR" and "aa" in r.flags and r.rdatas("AAAA") == ["2001:db8::80"], r)


def test_nxdomain_with_soa(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "nope.example.org", "A", tcp=tcp)
        check(r.rcode == "NXDOMAIN" and "aa" in r.flags and not r.answer, r)
        # RFC 2308 §3: TTL = min(SOA TTL 3600, MINIMUM 300).
        check([rr[3] for rr in r.authority] == ["SOA"] and r.authority[0][1] == 300, r)


def test_nodata_with_soa(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.example.org", "TXT", tcp=tcp)
        check(r.rcode == "NOERROR" and "aa" in r.flags and not r.answer, r)
        check([rr[3] for rr in r.authority] == ["SOA"], r)


def test_empty_non_terminal_is_nodata(s):
    r = kdig(s, "dc1.example.org", "A")
    check(r.rcode == "NOERROR" and not r.answer and [rr[3] for rr in r.authority] == ["SOA"], r)
    r = kdig(s, "host.lab.dc1.example.org", "A")
    check(r.rdatas("A") == ["192.0.2.200"], r)


def test_referral_with_glue(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.sub.example.org", "A", tcp=tcp)
        check(r.rcode == "NOERROR" and "aa" not in r.flags and not r.answer, r)
        check(sorted(r.rdatas("NS", "authority")) == ["ns1.sub.example.org.", "ns2.sub.example.org."], r)
        check(sorted(r.rdatas("A", "additional")) == ["192.0.2.53", "192.0.2.54"], r)


def test_wildcard(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "Anything.apps.example.org", "A", tcp=tcp)
        check(r.rcode == "NOERROR" and "aa" in r.flags, r)
        check(r.answer == [("anything.apps.example.org.", 3600, "IN", "A", "192.0.2.100")], r)


def test_cname_followed(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "ftp.example.org", "A", tcp=tcp)
        check(r.rcode == "NOERROR" and "aa" in r.flags, r)
        check([(rr[0], rr[3], rr[4]) for rr in r.answer] ==
              [("ftp.example.org.", "CNAME", "www.example.org."), ("www.example.org.", "A", "192.0.2.80")], r)


def test_any_is_one_rrset_over_udp_and_tcp(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.example.org", "ANY", tcp=tcp)
        check(r.rcode == "NOERROR" and [rr[3] for rr in r.answer] == ["A"], r)


def test_refused_outside_zone(s):
    for tcp in TRANSPORTS:
        r = kdig(s, "www.example.net", "A", tcp=tcp)
        check(r.rcode == "REFUSED" and "aa" not in r.flags, r)


def test_case_echoed_in_owner(s):
    r = query(s, "WWW.Example.Org", "A")
    check(r.question[0][0] == "WWW.Example.Org." and r.answer[0][4] == "192.0.2.80", r)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_bad_zone_fails_check_config(_server):
    folder = tempfile.mkdtemp(prefix="stsd-e2e-file-")
    try:
        write(os.path.join(folder, "bad.zone"), "$TTL 60\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nwww A 192.0.2.300\n")
        write(os.path.join(folder, "stsd.yaml"),
              "servers:\n  - listen: [\"127.0.0.1:53530\"]\n    plugins:\n      file:\n"
              "        - zone: example.org.\n          path: bad.zone\n")
        p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", os.path.join(folder, "stsd.yaml")],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0, p)
        check(os.path.join(folder, "bad.zone") + ":4:" in p.stderr + p.stdout, p)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_sighup_reloads_zone_and_keeps_old_on_error(_server):
    config = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: reload.test.
          path: reload.zone
"""
    zone = "$TTL 60\n@ SOA ns hostmaster {serial} 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A {address}\n"
    server = Stsd(config)  # creates its folder; the zone goes there before the start
    write(os.path.join(server.dir, "reload.zone"), zone.format(serial=1, address="192.0.2.10"))
    with server as s:
        check(kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.10"])

        write(os.path.join(s.dir, "reload.zone"), zone.format(serial=2, address="192.0.2.20"))
        s.signal(signal.SIGHUP)
        wait_for(lambda: kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.20"], "edited zone after SIGHUP")

        # A broken zone is refused; the previous chain keeps answering.
        write(os.path.join(s.dir, "reload.zone"), zone.format(serial=3, address="192.0.2.300"))
        s.signal(signal.SIGHUP)
        wait_for(lambda: "reload.zone:5:" in s.read_log(), "the reload error in the log")
        check(kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.20"])


if __name__ == "__main__":
    run_tests(CONFIG, [test_soa_at_apex, test_exact_answer, test_nxdomain_with_soa, test_nodata_with_soa,
                       test_empty_non_terminal_is_nodata, test_referral_with_glue, test_wildcard, test_cname_followed,
                       test_any_is_one_rrset_over_udp_and_tcp, test_refused_outside_zone, test_case_echoed_in_owner,
                       test_bad_zone_fails_check_config, test_sighup_reloads_zone_and_keeps_old_on_error])
