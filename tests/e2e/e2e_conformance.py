"""Protocol conformance next to Knot (issue 14), every answer decoded with dnspython: the
DO bit copied (RFC 3225 §3), NSID per server block (RFC 5001, text and hex, sent only
when asked), the synthesized zones' SOA timers, queries with records in their authority
and additional sections (an IXFR among them) answered with OPT and not FORMERR, the
FORMERRs stsd does send carrying OPT (RFC 6891 §7), ANY (RFC 8482) and the additional
section side by side with knotd 3.2 serving the same zones, over UDP and TCP, and EDNS TCP
keepalive (RFC 7828) over TCP only."""
import os
import struct
import sys

try:
    import dns.edns
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.rrset
except ImportError:
    # scripts/deps.sh installs Debian's python3-dnspython into the system interpreter;
    # CMake may have found another python3 first on PATH (pyenv, a venv): run under that one.
    SYSTEM_PYTHON = "/usr/bin/python3"
    if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    sys.exit("e2e_conformance: dnspython is missing (scripts/deps.sh installs python3-dnspython)")

from harness import SOURCE_DIR, check, free_port, reload_and_wait, run_tests, send_tcp, send_udp
from secondaries import Server

NSID, TCP_KEEPALIVE, COOKIE = 3, 11, 10  # EDNS option codes (RFC 5001, RFC 7828, RFC 7873)
TEXT_NSID = b"stsd-conformance"
HEX_NSID = bytes.fromhex("00ff5354")
IDLE_TIMEOUT_SECONDS = 7
# The first block's SOA timers (5h, 90m, 21d, negative_ttl 600) and the second's defaults
# (plugins/mtasts/README.md): refresh, retry, expire, minimum.
CONFIGURED_TIMERS = (18000, 5400, 1814400, 600)
DEFAULT_TIMERS = (14400, 3600, 1209600, 300)

CONFIG = """
storage: {dir}/var/stsd.db
admin: { socket: {dir}/var/stsd.sock }
tcp: { idle_timeout: %ds }
servers:
  - listen: ["127.0.0.1:{port}"]
    nsid: %s
    plugins:
      mtasts:
        service_zone: sts.provider.test.
        nameservers: [ns1.provider.test., ns2.provider.test.]
        hostmaster: hostmaster.provider.test.
        negative_ttl: 600
        soa_refresh: 5h
        soa_retry: 90m
        soa_expire: 21d
        serial_step: 1h
        policy_host: { a: [192.0.2.10], aaaa: ["2001:db8::10"] }
      file:
        - zone: example.org.
          path: {source}/zones/example.org.zone
        - zone: any-order.test.
          path: {source}/tests/e2e/zones/any-order.test.zone
  - listen: ["127.0.0.1:{port2}"]
    nsid: "0x%s"
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
  - listen: ["127.0.0.1:{port3}"]
    plugins:
      file:
        - zone: example.org.
          path: {source}/zones/example.org.zone
""" % (IDLE_TIMEOUT_SECONDS, TEXT_NSID.decode(), HEX_NSID.hex())

PORTS = {"{port2}": free_port(), "{port3}": free_port()}
for placeholder, number in PORTS.items():
    CONFIG = CONFIG.replace(placeholder, str(number))

FILE_ZONES = {"example.org.": os.path.join(SOURCE_DIR, "zones", "example.org.zone"),
              "any-order.test.": os.path.join(SOURCE_DIR, "tests", "e2e", "zones", "any-order.test.zone")}
# The zones the mtasts plugin synthesizes for example.com, and the names and types they hold.
MTASTS_ZONES = {
    "_mta-sts.example.com.": {"_mta-sts.example.com.": ("TXT",)},
    "_smtp._tls.example.com.": {"_smtp._tls.example.com.": ("TXT",)},
    "mta-sts.example.com.": {"mta-sts.example.com.": ("A", "AAAA")},
    "sts.provider.test.": {"_mta-sts.example.com.sts.provider.test.": ("TXT",),
                           "_smtp._tls.example.com.sts.provider.test.": ("TXT",),
                           "mta-sts.example.com.sts.provider.test.": ("A", "AAAA")},
}

# Queries asked of stsd and knotd alike: ANY at every kind of name (RFC 8482), and the
# queries whose answers get additional records (glue, NS/MX/SRV targets) or none.
ANY_NAMES = ["example.org.", "www.example.org.", "ns1.example.org.", "mail.example.org.", "ftp.example.org.",
             "dc1.example.org.", "host.lab.dc1.example.org.", "x.apps.example.org.", "nope.example.org.",
             "sub.example.org.", "ns1.sub.example.org.", "deep.sub.example.org.",
             "any-order.test.", "t.any-order.test.", "m.any-order.test.", "ns.any-order.test.",
             "_smtp._tcp.any-order.test.", "_tcp.any-order.test.", "c.any-order.test.",
             "_mta-sts.example.com.", "_smtp._tls.example.com.", "mta-sts.example.com.",
             "x._mta-sts.example.com.", "sts.provider.test.", "_mta-sts.example.com.sts.provider.test.",
             "_smtp._tls.example.com.sts.provider.test.", "mta-sts.example.com.sts.provider.test.",
             "example.com.sts.provider.test.", "_tls.example.com.sts.provider.test.", "nope.sts.provider.test."]
TYPED_QUERIES = [("example.org.", "NS"), ("example.org.", "MX"), ("example.org.", "SOA"), ("ftp.example.org.", "A"),
                 ("sub.example.org.", "NS"), ("host.sub.example.org.", "A"), ("mail.example.org.", "MX"),
                 ("any-order.test.", "MX"), ("m.any-order.test.", "MX"), ("_smtp._tcp.any-order.test.", "SRV"),
                 ("_mta-sts.example.com.", "NS"), ("_mta-sts.example.com.", "TXT"), ("sts.provider.test.", "NS"),
                 ("mta-sts.example.com.", "AAAA"), ("_mta-sts.example.com.", "A")]


# --- talking to the servers -----------------------------------------------------------

def ask(address, message, tcp=False):
    host, port = address
    if tcp:
        return dns.query.tcp(message, host, port=port, timeout=3)
    return dns.query.udp(message, host, port=port, timeout=3)


def ask_wire(address, wire, tcp=False):
    """Raw bytes out (a query dnspython would not build), the decoded answer back."""
    host, port = address
    raw = send_tcp(host, port, wire, timeout=3)[0] if tcp else send_udp(host, port, wire, timeout=3)
    return dns.message.from_wire(raw)


def query(name, rtype, do=False, options=(), edns=True):
    if not edns:
        return dns.message.make_query(name, rtype, use_edns=False)
    return dns.message.make_query(name, rtype, use_edns=0, want_dnssec=do, options=list(options))


def option(answer, code):
    """The data of EDNS option `code` in `answer`, None when absent."""
    found = [o.to_wire() for o in answer.options if o.otype == code]
    check(len(found) <= 1, f"option {code} twice: {answer}")
    return found[0] if found else None


def summary(answer):
    """What must match between two servers: rcode, header flags, OPT, and each section as
    sorted record lines. SOA serials are masked: knotd serves the serial its zone file
    holds, while stsd's service zone serial steps with time."""
    def lines(section):
        out = []
        for rrset in section:
            for line in rrset.to_text().splitlines():
                words = line.split()
                if words[3] == "SOA":
                    words[6] = "SERIAL"
                out.append(" ".join(words))
        return sorted(out)
    return {"rcode": dns.rcode.to_text(answer.rcode()), "flags": dns.flags.to_text(answer.flags),
            "edns": (answer.edns, answer.payload if answer.edns >= 0 else None, answer.ednsflags),
            "answer": lines(answer.answer), "authority": lines(answer.authority),
            "additional": lines(answer.additional)}


def stsd_address(stsd, port=None):
    return (stsd.host, port or stsd.port)


class KnotReference(Server):
    """knotd 3.2 authoritative for the same zones, from files: the reference answers."""

    kind = "knotd"

    def __init__(self, zone_texts):
        super().__init__()
        self.zone_texts = zone_texts

    def write_config(self):
        zone_dir = os.path.join(self.dir, "zones")
        os.makedirs(zone_dir, exist_ok=True)
        for apex, text in self.zone_texts.items():
            with open(os.path.join(zone_dir, apex + "zone"), "w") as f:
                f.write(text)
        self.config_path = os.path.join(self.dir, "knot.conf")
        zones = "".join(f"  - domain: {apex}\n" for apex in self.zone_texts)
        with open(self.config_path, "w") as f:
            f.write(f"""server:
    rundir: "{self.dir}"
    listen: {self.host}@{self.port}
log:
  - target: "{self.log_path}"
    any: info
database:
    storage: "{self.dir}"
template:
  - id: default
    storage: "{zone_dir}"
    file: "%s.zone"
zone:
{zones}""")

    def command(self):
        return ["knotd", "-c", self.config_path]


def synthesized_zone_text(stsd, apex, names):
    """The records stsd serves in one mtasts zone, as a zone file for knotd."""
    records = []
    for name, rtype in [(apex, "SOA"), (apex, "NS")] + [(n, t) for n, types in names.items() for t in types]:
        answer = ask(stsd_address(stsd), query(name, rtype), tcp=True)
        check(answer.rcode() == dns.rcode.NOERROR and answer.answer, f"{name} {rtype} from stsd: {answer}")
        records += [rrset.to_text() for rrset in answer.answer]
    return "\n".join(records) + "\n"


def knot_serving_the_same(stsd):
    zones = {apex: synthesized_zone_text(stsd, apex, names) for apex, names in MTASTS_ZONES.items()}
    for apex, path in FILE_ZONES.items():
        with open(path) as f:
            zones[apex] = f.read()
    return KnotReference(zones)


def compare_with_knot(stsd, knot, message, tcp):
    ours, theirs = ask(stsd_address(stsd), message, tcp), ask(knot.address, message, tcp)
    check(summary(ours) == summary(theirs),
          f"{message.question[0]} over {'TCP' if tcp else 'UDP'}:\nstsd:  {summary(ours)}\nknotd: {summary(theirs)}")
    return ours


# --- the tests ------------------------------------------------------------------------

def test_mtasts_domain_served(stsd):
    """example.com, confirmed: the TXT the comparisons below rely on."""
    socket_path = os.path.join(stsd.dir, "var", "stsd.sock")
    stsd.run("stsctl", "--socket", socket_path, "domain", "add", "example.com", "--tlsrpt-rua", "mailto:tls@example.com")
    stsd.run("stsctl", "--socket", socket_path, "policy", "stage", "example.com", "--mode", "enforce",
             "--mx", "mx1.example.com")
    stsd.run("stsctl", "--socket", socket_path, "policy", "confirm", "example.com", "--version", "1",
             "--reason", "e2e_conformance")
    answer = ask(stsd_address(stsd), query("_mta-sts.example.com.", "TXT"))
    check(answer.rcode() == dns.rcode.NOERROR and len(answer.answer) == 1, answer)
    check(answer.answer[0][0].to_text().startswith('"v=STSv1; id='), answer)


def test_do_bit_copied(stsd):
    cases = [("www.example.org.", "A", dns.rcode.NOERROR), ("nope.example.org.", "A", dns.rcode.NXDOMAIN),
             ("_mta-sts.example.com.", "TXT", dns.rcode.NOERROR), ("www.example.net.", "A", dns.rcode.REFUSED)]
    for name, rtype, rcode in cases:
        for tcp in (False, True):
            for do in (False, True):
                answer = ask(stsd_address(stsd), query(name, rtype, do=do), tcp)
                check(answer.rcode() == rcode and answer.edns == 0, f"{name} {rtype}: {answer}")
                check(bool(answer.ednsflags & dns.flags.DO) == do, f"{name} {rtype} DO={do}: {answer}")
            plain = ask(stsd_address(stsd), query(name, rtype, edns=False), tcp)
            check(plain.rcode() == rcode and plain.edns == -1, f"no EDNS asked, none in the answer: {plain}")


def test_nsid_per_server_block_only_when_asked(stsd):
    blocks = [(stsd.port, TEXT_NSID), (PORTS["{port2}"], HEX_NSID), (PORTS["{port3}"], None)]
    for port, nsid in blocks:
        for tcp in (False, True):
            name = "example.org." if port != PORTS["{port2}"] else "_mta-sts.example.com."
            asked = ask(stsd_address(stsd, port), query(name, "SOA", options=[dns.edns.GenericOption(NSID, b"")]), tcp)
            check(asked.rcode() == dns.rcode.NOERROR, asked)
            check(option(asked, NSID) == nsid, f"port {port}: NSID {option(asked, NSID)!r}, expected {nsid!r}")
            not_asked = ask(stsd_address(stsd, port), query(name, "SOA"), tcp)
            check(option(not_asked, NSID) is None and not not_asked.options, f"not asked: {not_asked}")
    # Also on an answer no plugin gave (REFUSED by the core).
    refused = ask(stsd_address(stsd), query("www.example.net.", "A", options=[dns.edns.GenericOption(NSID, b"")]))
    check(refused.rcode() == dns.rcode.REFUSED and option(refused, NSID) == TEXT_NSID, refused)


def soa_timers(answer):
    soa = answer.answer[0][0]
    return (soa.refresh, soa.retry, soa.expire, soa.minimum)


def test_soa_timers_of_the_synthesized_zones(stsd):
    for port, expected in ((stsd.port, CONFIGURED_TIMERS), (PORTS["{port2}"], DEFAULT_TIMERS)):
        apexes = ["_mta-sts.example.com.", "_smtp._tls.example.com.", "mta-sts.example.com."]
        if port == stsd.port:
            apexes.append("sts.provider.test.")
        for apex in apexes:
            answer = ask(stsd_address(stsd, port), query(apex, "SOA"))
            check(answer.rcode() == dns.rcode.NOERROR and len(answer.answer) == 1, answer)
            check(soa_timers(answer) == expected, f"{apex} on port {port}: {soa_timers(answer)}, expected {expected}")
        negative = ask(stsd_address(stsd, port), query("x._mta-sts.example.com.", "TXT"))
        check(negative.rcode() == dns.rcode.NXDOMAIN, negative)
        check(tuple(negative.authority[0][0].to_text().split()[3:]) == tuple(str(t) for t in expected), negative)


def ixfr_query(zone, serial, do=True):
    message = query(zone, "IXFR", do=do)
    message.authority.append(dns.rrset.from_text(zone, 0, "IN", "SOA", f"ns1.{zone} hostmaster.{zone} {serial} 1 1 1 1"))
    return message


def test_ixfr_and_records_in_authority_and_additional_are_not_formerr(stsd):
    # No transfer plugin: the IXFR (its SOA in the authority section, RFC 1995 §3) is
    # refused by the core, with OPT and DO as asked; stsd's answer is knotd's REFUSED or
    # NOTAUTH (Knot without a transfer ACL), never FORMERR.
    for zone in ("example.org.", "_mta-sts.example.com."):
        for tcp in (False, True):
            answer = ask(stsd_address(stsd), ixfr_query(zone, 2024010101), tcp)
            check(answer.rcode() == dns.rcode.REFUSED, f"IXFR {zone}: {answer}")
            check(answer.edns == 0 and answer.ednsflags & dns.flags.DO, f"OPT with DO: {answer}")
    # A query carrying records in its answer, authority and additional sections (RFC 1035
    # does not forbid them) is answered like the plain query, as knotd does.
    with knot_serving_the_same(stsd) as knot:
        for sections in (("authority",), ("additional",), ("answer", "authority", "additional")):
            message = query("www.example.org.", "A", do=True)
            for section in sections:
                getattr(message, section).append(
                    dns.rrset.from_text("ns1.example.org.", 300, "IN", "A", "192.0.2.1"))
            for tcp in (False, True):
                answer = compare_with_knot(stsd, knot, message, tcp)
                check(answer.rcode() == dns.rcode.NOERROR and answer.answer and answer.edns == 0, answer)


def test_formerr_carries_opt(stsd):
    # RFC 6891 §7: the query's OPT was well formed, so the FORMERR carries OPT (DO copied).
    ixfr_without_soa = query("example.org.", "IXFR", do=True).to_wire()
    two_cookies = query("example.org.", "SOA", do=True, options=[dns.edns.GenericOption(COOKIE, b"12345678"),
                                                                 dns.edns.GenericOption(COOKIE, b"87654321")]).to_wire()
    trailing_octet = query("example.org.", "SOA", do=True).to_wire() + b"\0"
    for what, wire in (("IXFR without its SOA", ixfr_without_soa), ("two COOKIE options", two_cookies),
                       ("an octet after the last record", trailing_octet)):
        for tcp in (False, True):
            answer = ask_wire(stsd_address(stsd), wire, tcp)
            check(answer.rcode() == dns.rcode.FORMERR, f"{what}: {answer}")
            check(answer.edns == 0 and answer.ednsflags & dns.flags.DO, f"{what}: FORMERR without OPT/DO: {answer}")
    # An OPT that is itself malformed (an option running past its end) cannot be trusted:
    # FORMERR without OPT.
    wire = bytearray(query("example.org.", "SOA").to_wire())
    wire[-2:] = struct.pack("!H", 4)
    wire += struct.pack("!HH", NSID, 9)
    answer = ask_wire(stsd_address(stsd), bytes(wire))
    check(answer.rcode() == dns.rcode.FORMERR and answer.edns == -1, answer)


def test_any_and_additional_side_by_side_with_knot(stsd):
    # RFC 8482 §4.1 as knotd answers: one RRset (the lowest type at the name) with the
    # additional records of that type, the same over UDP and TCP; referrals, NODATA and
    # NXDOMAIN as for any type. Typed queries: the same glue and additional records.
    with knot_serving_the_same(stsd) as knot:
        for name in ANY_NAMES:
            over = {tcp: compare_with_knot(stsd, knot, query(name, "ANY"), tcp) for tcp in (False, True)}
            check(summary(over[False]) == summary(over[True]), f"ANY {name}: UDP and TCP differ")
            check(len(over[False].answer) <= 1, f"ANY {name}: one RRset: {over[False]}")
        for name, rtype in TYPED_QUERIES:
            for tcp in (False, True):
                compare_with_knot(stsd, knot, query(name, rtype), tcp)
        # With DO the answers stay the same and both copy the bit.
        for name in ("example.org.", "_mta-sts.example.com."):
            answer = compare_with_knot(stsd, knot, query(name, "ANY", do=True), False)
            check(answer.ednsflags & dns.flags.DO, answer)


def test_tcp_keepalive_over_tcp_only(stsd):
    keepalive = [dns.edns.GenericOption(TCP_KEEPALIVE, b"")]
    over_tcp = ask(stsd_address(stsd), query("example.org.", "SOA", options=keepalive), tcp=True)
    # RFC 7828 §3.3.2: the idle timeout in units of 100 ms.
    check(option(over_tcp, TCP_KEEPALIVE) == struct.pack("!H", IDLE_TIMEOUT_SECONDS * 10), over_tcp)
    over_udp = ask(stsd_address(stsd), query("example.org.", "SOA", options=keepalive))
    check(over_udp.rcode() == dns.rcode.NOERROR and option(over_udp, TCP_KEEPALIVE) is None,
          f"RFC 7828 §3.3.1: never over UDP: {over_udp}")
    not_asked = ask(stsd_address(stsd), query("example.org.", "SOA"), tcp=True)
    check(option(not_asked, TCP_KEEPALIVE) is None, f"only to a client that sent the option: {not_asked}")
    both = ask(stsd_address(stsd), query("example.org.", "SOA", options=keepalive + [dns.edns.GenericOption(NSID, b"")]),
               tcp=True)
    check(option(both, TCP_KEEPALIVE) is not None and option(both, NSID) == TEXT_NSID, both)


def test_nsid_follows_a_reload(stsd):
    """The NSID belongs to the server block's chain: SIGHUP applies a new one (run last:
    it leaves the new config in place)."""
    stsd.write_config(stsd.config_text.replace(f"nsid: {TEXT_NSID.decode()}", "nsid: after-reload"))
    reload_and_wait(stsd, "config reloaded")
    answer = ask(stsd_address(stsd), query("example.org.", "SOA", options=[dns.edns.GenericOption(NSID, b"")]))
    check(option(answer, NSID) == b"after-reload", answer)


if __name__ == "__main__":
    run_tests(CONFIG, [test_mtasts_domain_served, test_do_bit_copied, test_nsid_per_server_block_only_when_asked,
                       test_soa_timers_of_the_synthesized_zones,
                       test_ixfr_and_records_in_authority_and_additional_are_not_formerr, test_formerr_carries_opt,
                       test_any_and_additional_side_by_side_with_knot, test_tcp_keepalive_over_tcp_only,
                       test_nsid_follows_a_reload])
