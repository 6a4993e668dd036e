"""The transfer plugin behind the real binary, queried with kdig: AXFR (RFC 5936) and IXFR
(RFC 1995) of a file zone and of the catalog zone (RFC 9432), TSIG (RFC 8945: a good key,
a wrong secret, an unknown key), the ACL (an address not on the list is REFUSED), AXFR
over UDP (NOTIMP, as Knot), IXFR over UDP, an IXFR applied to the old AXFR giving the new
AXFR, a zone added to and removed from the catalog, and the transfer metrics."""
import base64
import os
import re
import socket
import subprocess
import time
import urllib.request

from harness import (STSD_BIN, Stsd, build_query, check, free_port, kdig, parse_message, reload_and_wait, run_tests,
                     wait_for)

SECRET = base64.b64encode(b"stsd-e2e-transfer-secret-0123456").decode()
OTHER_SECRET = base64.b64encode(b"another-secret-of-thirty-two-byt").decode()
CATALOG = "catalog.stsd.invalid."

CONFIG = """
storage: {dir}/var/stsd.db
admin: { socket: {dir}/var/stsd.sock }
metrics: { listen: "127.0.0.1:%d" }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      transfer:
        keys:
          xfr-key: { algorithm: hmac-sha256, secret: "%s" }
          file-key: { algorithm: hmac-sha256, secret_file: {dir}/file.key }
        allow:
          - { prefix: 127.0.0.1/32, key: xfr-key }
          - { prefix: 127.0.0.1/32, key: file-key }
          - { prefix: 127.0.0.2/32 }
        catalog: %s
        poll: 1s
      file:
        - zone: example.test.
          path: {dir}/example.test.zone
%s
"""

OPTIONAL_ZONE = """        - zone: extra.test.
          path: {dir}/extra.test.zone
"""

ZONE = """$ORIGIN {origin}
$TTL 3600
@       IN SOA ns1.example.test. hostmaster.example.test. {serial} 3600 600 604800 300
@       IN NS  ns1.example.test.
@       IN NS  ns2.example.test.
ns1     IN A   192.0.2.1
ns2     IN A   192.0.2.2
www     IN A   192.0.2.80
{extra}
"""

METRICS_PORT = free_port()


def write_zone(server, origin, serial, extra=""):
    name = origin.rstrip(".") + ".zone"
    with open(os.path.join(server.dir, name), "w") as f:
        f.write(ZONE.format(origin=origin, serial=serial, extra=extra))


def make_server(with_extra=False):
    server = Stsd(CONFIG % (METRICS_PORT, SECRET, CATALOG, OPTIONAL_ZONE if with_extra else ""))
    os.makedirs(os.path.join(server.dir, "var"), mode=0o700)
    key_path = os.path.join(server.dir, "file.key")
    with open(key_path, "w") as f:
        f.write(OTHER_SECRET + "\n")
    os.chmod(key_path, 0o600)
    write_zone(server, "example.test.", 2024010101, "txt     IN TXT \"version one\"")
    write_zone(server, "extra.test.", 1)
    return server


class Transfer:
    """What kdig printed for a transfer: the records in order, or the failure."""

    def __init__(self, text):
        self.text = text
        self.records = []
        for line in text.splitlines():
            if not line.strip() or line.startswith(";"):
                continue
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] != "TSIG":  # kdig shows each message's signature
                self.records.append((parts[0].lower(), int(parts[1]), parts[2], parts[3], parts[4]))
        m = re.search(r"\(([A-Z]+)\)|status: ([A-Z]+)|failed \((.*?)\)|failed: (.*)", text)
        self.error = next((g for g in m.groups() if g), None) if m and not self.records else None

    def types(self):
        return [r[3] for r in self.records]

    def soa_serials(self):
        return [int(r[4].split()[2]) for r in self.records if r[3] == "SOA"]

    def __repr__(self):
        return self.text


def xfr(server, zone, rtype="AXFR", key=("xfr-key", SECRET), source=None, tcp=True):
    cmd = ["kdig", f"@{server.host}", "-p", str(server.port), "-t", rtype, zone, "+time=5", "+retry=0"]
    cmd += ["+tcp"] if tcp else ["+notcp", "+bufsize=1232"]
    if key:
        cmd += ["-y", f"hmac-sha256:{key[0]}:{key[1]}"]
    if source:
        cmd += ["-b", source]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return Transfer(p.stdout + p.stderr)


def serial_of(server, zone):
    a = kdig(server, zone, "SOA")
    check(a.rcode == "NOERROR", a)
    return int(a.rdatas("SOA")[0].split()[2])


def tracked(server, zone):
    """Waits until the transfer plugin offers `zone` (it polls every second)."""
    wait_for(lambda: xfr(server, zone).records, f"{zone} offered for transfer", timeout=15)


def apply_ixfr(old_records, ixfr_records):
    """Applies an IXFR answer (RFC 1995 §4) to an AXFR's records; returns the records."""
    check(ixfr_records[0][3] == "SOA" and ixfr_records[-1][3] == "SOA", ixfr_records)
    if len(ixfr_records) > 1 and ixfr_records[1][3] != "SOA":
        return ixfr_records[:-1]  # an AXFR-style answer
    content = set(old_records[:-1])
    current_soa = None
    deleting = None
    for record in ixfr_records[1:-1]:
        if record[3] == "SOA":
            deleting = not deleting if deleting is not None else True
            if deleting:
                content.discard(record)
            else:
                current_soa = record
                content.add(record)
            continue
        (content.discard if deleting else content.add)(record)
    check(current_soa == ixfr_records[-1], "the last difference ends at the current SOA")
    return content


def test_axfr_of_a_file_zone(s):
    tracked(s, "example.test.")
    t = xfr(s, "example.test.")
    check(t.types()[0] == "SOA" and t.types()[-1] == "SOA" and t.types().count("SOA") == 2, t)
    check(("www.example.test.", 3600, "IN", "A", "192.0.2.80") in t.records, t)
    check(sorted(t.types()[1:-1]) == ["A", "A", "A", "NS", "NS", "TXT"], t)
    # The key read from a secret_file works as well.
    t = xfr(s, "example.test.", key=("file-key", OTHER_SECRET))
    check(len(t.records) == 8, t)


def test_signed_axfr_across_many_messages():
    """A zone of 500 KB goes out in messages of up to 64 KiB, each signed, each MAC over
    the previous one (RFC 8945 §5.3.1): kdig checks every signature."""
    server = make_server(with_extra=True)
    write_zone(server, "extra.test.", 5, "\n".join(f'r{i} IN TXT "{"x" * 150}"' for i in range(3000)))
    with server:
        tracked(server, "extra.test.")
        t = xfr(server, "extra.test.")
        check(len(t.records) == 3000 + 7 and t.types()[0] == "SOA" and t.types()[-1] == "SOA", t.text[-300:])
        m = re.search(r"Received (\d+) B \((\d+) messages", t.text)
        check(m and int(m.group(2)) >= 8 and int(m.group(1)) / int(m.group(2)) > 60000, t.text[-300:])
        check(t.text.count("TSIG") == int(m.group(2)) and ";; ERROR" not in t.text, t.text[-300:])


def test_tsig_failures_and_acl(s):
    tracked(s, "example.test.")
    # A key stsd knows with another secret: BADSIG; a key it does not know: BADKEY.
    t = xfr(s, "example.test.", key=("xfr-key", OTHER_SECRET))
    check(not t.records and "BADSIG" in t.text, t)
    t = xfr(s, "example.test.", key=("unknown-key", SECRET))
    check(not t.records and "BADKEY" in t.text, t)
    # 127.0.0.1 must sign; unsigned it is refused.
    t = xfr(s, "example.test.", key=None)
    check(not t.records and "REFUSED" in t.text, t)
    # 127.0.0.3 is on no list, signed or not.
    t = xfr(s, "example.test.", source="127.0.0.3")
    check(not t.records and "REFUSED" in t.text, t)
    t = xfr(s, "example.test.", key=None, source="127.0.0.3")
    check(not t.records and "REFUSED" in t.text, t)
    # 127.0.0.2 may transfer unsigned.
    t = xfr(s, "example.test.", key=None, source="127.0.0.2")
    check(len(t.records) == 8, t)


def test_axfr_over_udp_is_notimp(s):
    tracked(s, "example.test.")
    # From 127.0.0.2, which may transfer unsigned: only the transport is wrong.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.settimeout(3)
        sock.sendto(build_query("example.test.", 252), (s.host, s.port))
        a = parse_message(sock.recvfrom(65535)[0])
    check(a.rcode == "NOTIMP" and not a.answer, a)


def test_ixfr_follows_a_zone_change(s):
    tracked(s, "example.test.")
    old = xfr(s, "example.test.")
    old_serial = old.soa_serials()[0]
    # Up to date: the single current SOA.
    t = xfr(s, "example.test.", rtype=f"IXFR={old_serial}")
    check(t.types() == ["SOA"], t)
    # A changed zone file with a newer serial, picked up by SIGHUP.
    write_zone(s, "example.test.", old_serial + 1, "txt     IN TXT \"version two\"\nnew     IN A 192.0.2.99")
    reload_and_wait(s, "reload")
    wait_for(lambda: xfr(s, "example.test.", rtype=f"IXFR={old_serial}").types() != ["SOA"], "the new serial journaled",
             timeout=15)
    t = xfr(s, "example.test.", rtype=f"IXFR={old_serial}")
    check(t.soa_serials() == [old_serial + 1, old_serial, old_serial + 1, old_serial + 1], t)
    check(("txt.example.test.", 3600, "IN", "TXT", '"version one"') in t.records, t)
    new = xfr(s, "example.test.")
    check(apply_ixfr(old.records, t.records) == set(new.records[:-1]), (t, new))
    # Over UDP the difference fits in one message (RFC 1995 §2).
    u = xfr(s, "example.test.", rtype=f"IXFR={old_serial}", tcp=False)
    check(u.records == t.records, u)
    # A serial never seen: the whole zone (RFC 1995 §4).
    t = xfr(s, "example.test.", rtype=f"IXFR={old_serial - 100}")
    check(t.records == new.records, t)


def test_catalog_lists_the_zones(s):
    tracked(s, "example.test.")
    a = kdig(s, CATALOG, "SOA")
    check(a.rcode == "NOERROR" and "aa" in a.flags, a)
    a = kdig(s, "version." + CATALOG, "TXT")
    check(a.rdatas("TXT") == ['"2"'], a)
    t = xfr(s, CATALOG)
    members = sorted(r[4] for r in t.records if r[3] == "PTR")
    check(members == ["example.test."], t)
    check(all(re.match(r"^[0-9a-f]{16}\.zones\." + re.escape(CATALOG) + "$", r[0]) for r in t.records if r[3] == "PTR"), t)


def test_metrics_count_transfers(s):
    tracked(s, "example.test.")
    xfr(s, "example.test.")
    xfr(s, "example.test.", key=("xfr-key", OTHER_SECRET))
    xfr(s, "example.test.", key=None, source="127.0.0.3")
    text = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).read().decode()
    for pattern in (r'stsd_transfer_requests_total\{type="axfr"\} [1-9]', r'stsd_transfer_refused_total\{reason="acl"\} [1-9]',
                    r'stsd_transfer_refused_total\{reason="tsig"\} [1-9]', r"stsd_transfer_messages_sent_total [1-9]",
                    r"stsd_transfer_bytes_sent_total [1-9]", r"stsd_transfer_zones [1-9]"):
        check(re.search(pattern, text), f"{pattern} in\n{text}")


def test_catalog_follows_members_and_keeps_its_serial():
    """A zone added by a reload joins the catalog under a newer serial; a restart with the
    same zones keeps the serial (the store keeps it); removing the zone increases it."""
    server = make_server(with_extra=False)
    with server:
        tracked(server, "example.test.")
        first = serial_of(server, CATALOG)
        server.write_config(CONFIG % (METRICS_PORT, SECRET, CATALOG, OPTIONAL_ZONE))
        reload_and_wait(server, "reload")
        wait_for(lambda: "extra.test." in [r[4] for r in xfr(server, CATALOG).records], "extra.test. in the catalog")
        second = serial_of(server, CATALOG)
        check(second != first and (second - first) % 2**32 < 2**31, (first, second))
        ixfr = xfr(server, CATALOG, rtype=f"IXFR={first}")
        check([r[4] for r in ixfr.records if r[3] == "PTR"] == ["extra.test."], ixfr)
    with server:
        tracked(server, "example.test.")
        wait_for(lambda: "extra.test." in [r[4] for r in xfr(server, CATALOG).records], "extra.test. after a restart")
        check(serial_of(server, CATALOG) == second, "a restart with the same members keeps the serial")
        server.write_config(CONFIG % (METRICS_PORT, SECRET, CATALOG, ""))
        reload_and_wait(server, "reload")
        wait_for(lambda: "extra.test." not in [r[4] for r in xfr(server, CATALOG).records], "extra.test. removed")
        third = serial_of(server, CATALOG)
        check((third - second) % 2**32 in range(1, 2**31), (second, third))
        t = xfr(server, "extra.test.")
        check(not t.records, t)


def test_check_config_validates_the_section():
    server = make_server()
    bad = CONFIG.replace("prefix: 127.0.0.2/32", "prefix: 127.0.0.2/33") % (METRICS_PORT, SECRET, CATALOG, "")
    server.write_config(bad)
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", server.config_path],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode != 0 and "stsd.yaml:" in p.stderr and "127.0.0.2/33" in p.stderr, p.stderr)
    server.write_config(CONFIG % (METRICS_PORT, SECRET, CATALOG, ""))
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", server.config_path],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, p.stderr)


MTASTS_CONFIG = """
storage: {dir}/var/stsd.db
admin: { socket: {dir}/var/stsd.sock }
policies: {dir}/policies
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      transfer:
        allow:
          - { prefix: 127.0.0.1/32 }
        catalog: %s
      mtasts:
        service_zone: sts.provider.test.
        nameservers: [ns1.provider.test., ns2.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 300
        rotation: 1d
        policy_host: { a: [192.0.2.10] }
""" % CATALOG


def test_mtasts_zones_are_offered_and_follow_a_confirmation():
    """The mtasts zones of a confirmed domain join the catalog; a newly confirmed version
    reaches a secondary as an IXFR whose application gives the new AXFR."""
    server = Stsd(MTASTS_CONFIG)
    os.makedirs(os.path.join(server.dir, "policies"))
    with open(os.path.join(server.dir, "policies", "example.com.yaml"), "w") as f:
        f.write("mode: enforce\nmx: [mx1.example.com]\nmax_age: 604800\n")

    def stsctl(*args):
        return server.run("stsctl", "--socket", os.path.join(server.dir, "var", "stsd.sock"), *args)

    with server:
        stsctl("policy", "confirm", "example.com", "--version", "1", "--reason", "e2e")
        zones = {"_mta-sts.example.com.", "_smtp._tls.example.com.", "mta-sts.example.com.", "sts.provider.test."}
        wait_for(lambda: zones <= {r[4] for r in xfr(server, CATALOG, key=None).records if r[3] == "PTR"},
                 "the mtasts zones in the catalog", timeout=15)
        old = xfr(server, "_mta-sts.example.com.", key=None)
        check(old.types()[0] == "SOA" and "TXT" in old.types(), old)
        old_serial = old.soa_serials()[0]
        check(serial_of(server, "_mta-sts.example.com.") == old_serial, "the SOA and the AXFR agree")
        # No wait: a confirmation in the same second as the first one still moves the
        # serial (the store stamps changes strictly increasing).
        stsctl("policy", "stage", "example.com", "--mode", "testing", "--mx", "mx1.example.com", "--max-age", "86400")
        stsctl("policy", "confirm", "example.com", "--version", "2", "--reason", "e2e")
        wait_for(lambda: xfr(server, "_mta-sts.example.com.", rtype=f"IXFR={old_serial}", key=None).types() != ["SOA"],
                 "the confirmation journaled", timeout=15)
        ixfr = xfr(server, "_mta-sts.example.com.", rtype=f"IXFR={old_serial}", key=None)
        check(ixfr.types()[1] == "SOA", f"an incremental answer: {ixfr}")
        new = xfr(server, "_mta-sts.example.com.", key=None)
        check(apply_ixfr(old.records, ixfr.records) == set(new.records[:-1]), (old, ixfr, new))


def with_server(test):
    """Runs `test` against a server of its own (file zone example.test., the catalog)."""
    def run():
        with make_server() as server:
            test(server)
    run.__name__ = test.__name__
    return run


if __name__ == "__main__":
    run_tests(None, [with_server(test) for test in (
        test_axfr_of_a_file_zone, test_tsig_failures_and_acl, test_axfr_over_udp_is_notimp,
        test_catalog_lists_the_zones, test_ixfr_follows_a_zone_change, test_metrics_count_transfers)] +
        [test_signed_axfr_across_many_messages, test_catalog_follows_members_and_keeps_its_serial, test_check_config_validates_the_section,
         test_mtasts_zones_are_offered_and_follow_a_confirmation])
