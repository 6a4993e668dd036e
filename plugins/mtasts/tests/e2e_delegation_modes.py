"""End to end (issue 3): the real stsd with a `policies:` folder, stsctl and kdig over UDP
and TCP, in both delegation modes: nothing is served before confirmation, the id follows
the confirmed version (never a staged one), rotates at period boundaries, and a changed
policy file stages a new version on SIGHUP."""
import os
import re
import signal
import time

from harness import Stsd, check, kdig, run_tests

CONFIG = """
storage: {dir}/var/stsd.db
admin: { socket: {dir}/var/stsd.sock }
policies: {dir}/policies
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        service_zone: sts.provider.test.
        nameservers: [ns1.provider.test., ns2.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 300
        rotation: %s
        policy_host: { a: [192.0.2.10], aaaa: ["2001:db8::10"] }
"""

POLICY = """mode: enforce
mx: [mx1.example.com, "*.mail.example.com"]
max_age: %d
tlsrpt_rua: [mailto:tls@example.com]
"""

ID = re.compile(r'^"v=STSv1; id=([A-Za-z0-9]{1,32});"$')


def prepared(rotation, max_age=604800):
    """An Stsd (not started: `with` starts it) whose policies folder holds example.com."""
    server = Stsd(CONFIG % rotation)
    os.makedirs(os.path.join(server.dir, "policies"))
    write_policy(server, max_age)
    return server


def write_policy(server, max_age):
    with open(os.path.join(server.dir, "policies", "example.com.yaml"), "w") as f:
        f.write(POLICY % max_age)


def stsctl(server, *args):
    return server.run("stsctl", "--socket", os.path.join(server.dir, "var", "stsd.sock"), *args)


def served_id(server, name, tcp=False):
    a = kdig(server, name, "TXT", tcp=tcp)
    check(a.rcode == "NOERROR" and "aa" in a.flags, a)
    txts = a.rdatas("TXT")
    check(len(txts) == 1 and len(a.answer) == 1, f"exactly one record at {name}: {a}")
    m = ID.match(txts[0])
    check(m, f"record format: {txts[0]}")
    return m.group(1)


def test_both_modes_over_udp_and_tcp():
    with prepared("1d") as server:
        # Staged from the policies folder but not confirmed: NODATA with the SOA.
        for name, zone in (("_mta-sts.example.com", "_mta-sts.example.com."),
                           ("_mta-sts.example.com.sts.provider.test", "sts.provider.test.")):
            for tcp in (False, True):
                a = kdig(server, name, "TXT", tcp=tcp)
                check(a.rcode == "NOERROR" and not a.answer and "aa" in a.flags, a)
                check([rr[0] for rr in a.authority if rr[3] == "SOA"] == [zone], a)
        stsctl(server, "policy", "confirm", "example.com", "--version", "1", "--reason", "e2e: file is served")
        ids = {served_id(server, name, tcp)
               for name in ("_mta-sts.example.com", "_mta-sts.example.com.sts.provider.test")
               for tcp in (False, True)}
        check(len(ids) == 1, f"one id in both modes and transports: {ids}")
        (the_id,) = ids
        check("v1d" in the_id and len(the_id) <= 32, the_id)
        for name in ("_smtp._tls.example.com", "_smtp._tls.example.com.sts.provider.test"):
            a = kdig(server, name, "TXT", tcp=True)
            check(a.rdatas("TXT") == ['"v=TLSRPTv1; rua=mailto:tls@example.com"'], a)
        for name in ("mta-sts.example.com", "mta-sts.example.com.sts.provider.test"):
            check(kdig(server, name, "A").rdatas("A") == ["192.0.2.10"], name)
            check(kdig(server, name, "AAAA", tcp=True).rdatas("AAAA") == ["2001:db8::10"], name)
        a = kdig(server, "sts.provider.test", "NS")
        check(sorted(a.rdatas("NS")) == ["ns1.provider.test.", "ns2.provider.test."], a)
        a = kdig(server, "nothing.sts.provider.test", "TXT")
        check(a.rcode == "NXDOMAIN" and a.authority and a.authority[0][3] == "SOA", a)
        a = kdig(server, "example.com.sts.provider.test", "TXT")
        check(a.rcode == "NOERROR" and not a.answer, f"empty non-terminal is NODATA: {a}")
        a = kdig(server, "_mta-sts.example.com", "A", tcp=True)
        check(a.rcode == "NOERROR" and not a.answer and a.authority[0][3] == "SOA", a)


def test_id_follows_confirmation_and_rotates():
    with prepared("3s") as server:
        stsctl(server, "policy", "confirm", "example.com", "--version", "1", "--reason", "e2e")
        first = served_id(server, "_mta-sts.example.com")
        check("v1d" in first, first)
        # A staged version never shows in the id, across rotations.
        stsctl(server, "policy", "stage", "example.com", "--mode", "testing", "--mx", "mx1.example.com",
               "--max-age", "604800")
        deadline = time.time() + 10
        rotated = first
        while rotated == first and time.time() < deadline:
            time.sleep(0.5)
            rotated = served_id(server, "_mta-sts.example.com", tcp=True)
            check("v1d" in rotated, f"staged version 2 leaked into the id: {rotated}")
        check(rotated != first, f"the id did not rotate within 10 s: {first}")
        check(rotated[-12:] == first[-12:], "same confirmed content, same digest fragment")
        stsctl(server, "policy", "confirm", "example.com", "--version", "2", "--reason", "e2e")
        check("v2d" in served_id(server, "_mta-sts.example.com.sts.provider.test"), "confirmed version 2 served")


def test_sighup_stages_a_changed_policy_file():
    with prepared("1d") as server:
        stsctl(server, "policy", "confirm", "example.com", "--version", "1", "--reason", "e2e")
        server.signal(signal.SIGHUP)      # unchanged file: nothing staged
        time.sleep(1)
        write_policy(server, 1209600)
        server.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            p = server.run("stsctl", "--socket", os.path.join(server.dir, "var", "stsd.sock"), "policy", "confirm",
                           "example.com", "--version", "2", "--reason", "e2e", check_rc=False)
            if p.returncode == 0:
                break
            time.sleep(0.2)
        check(p.returncode == 0, f"version 2 was not staged after SIGHUP: {p.stderr}")
        # Version 3 must not exist: the unchanged reload staged nothing.
        p = server.run("stsctl", "--socket", os.path.join(server.dir, "var", "stsd.sock"), "policy", "confirm",
                       "example.com", "--version", "3", "--reason", "e2e", check_rc=False)
        check(p.returncode != 0, "an unchanged file staged a version")
        check("v2d" in served_id(server, "_mta-sts.example.com"), "version 2 served")
        # A bad file is refused on reload and the served answer stays.
        with open(os.path.join(server.dir, "policies", "bad.example.yaml"), "w") as f:
            f.write("mode: enforce\nmx: [192.0.2.25]\nmax_age: 86400\n")
        server.signal(signal.SIGHUP)
        time.sleep(1)
        check("bad.example.yaml:2" in server.read_log(), "the log names the bad file and line")
        check("v2d" in served_id(server, "_mta-sts.example.com", tcp=True), "still served after a refused reload")


if __name__ == "__main__":
    run_tests(None, [test_both_modes_over_udp_and_tcp, test_id_follows_confirmation_and_rotates,
                     test_sighup_stages_a_changed_policy_file])
