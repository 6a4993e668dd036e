"""Hand-made malformed packets, sent over UDP and over TCP: each gets the right answer
(FORMERR/NOTIMP/BADVERS with the query's ID) or none, and the server keeps answering."""
import random
import socket
import struct

from harness import check, parse_message, query, run_tests, send_tcp, send_udp

CONFIG = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: core.test.
          path: {source}/tests/e2e/zones/core.test.zone
"""

QNAME = b"\x03www\x04core\x04test\x00"
Q = QNAME + b"\x00\x01\x00\x01"


def header(qid=0xBEEF, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def opt(size=1232, version=0, rdata=b"", owner=b"\x00"):
    return owner + struct.pack("!HHBBHH", 41, size, 0, version, 0, len(rdata)) + rdata


A_RECORD = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])


def soa(owner=b"\xc0\x0c", serial=1):
    rdata = b"\x00\x00" + struct.pack("!IIIII", serial, 1, 1, 1, 1)
    return owner + struct.pack("!HHIH", 6, 1, 0, len(rdata)) + rdata


def tsig():
    rdata = b"\x0bhmac-sha256\x00" + struct.pack("!HIHH", 0, 1, 300, 32) + b"m" * 32 + struct.pack("!HHH", 0xBEEF, 0, 0)
    return b"\x03key\x00" + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata


# (name, packet, expected): expected is None (no answer) or an rcode name.
CASES = [
    ("empty", b"", None),
    ("one octet", b"\x00", None),
    ("eleven octets", header()[:11], None),
    ("no question", header(qd=0), "FORMERR"),
    ("two questions", header(qd=2) + Q + Q, "FORMERR"),
    ("qdcount 1, nothing follows", header(), "FORMERR"),
    ("label runs past end", header() + b"\x10www", "FORMERR"),
    ("name without root label", header() + b"\x03www\x04core", "FORMERR"),
    ("missing qtype and qclass", header() + QNAME, "FORMERR"),
    ("half a qtype", header() + QNAME + b"\x00", "FORMERR"),
    ("qclass cut short", header() + QNAME + b"\x00\x01\x00", "FORMERR"),
    ("pointer to itself", header() + b"\xc0\x0c\x00\x01\x00\x01", "FORMERR"),
    ("forward pointer", header() + b"\x03www\xc0\x20\x00\x01\x00\x01", "FORMERR"),
    ("pointer into header", header() + b"\xc0\x02\x00\x01\x00\x01", "FORMERR"),
    ("pointer cut in half", header() + b"\x03www\xc0", "FORMERR"),
    ("two-pointer loop", header() + b"\x01a\xc0\x10\x01b\xc0\x0c\x00\x01\x00\x01", "FORMERR"),
    ("label type 0x40", header() + b"\x41" + b"a" * 10 + b"\x00\x00\x01\x00\x01", "FORMERR"),
    ("label type 0x80", header() + b"\x81a\x00\x00\x01\x00\x01", "FORMERR"),
    ("name over 255 octets", header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", "FORMERR"),
    ("response bit set", header(flags=0x8100) + Q, None),
    ("response with garbage", header(flags=0x8000) + b"\xff" * 20, None),
    ("opcode IQUERY", header(flags=0x0800) + Q, "NOTIMP"),
    ("opcode STATUS", header(flags=0x1000) + Q, "NOTIMP"),
    ("opcode NOTIFY", header(flags=0x2000) + Q, "NOTIMP"),
    ("opcode UPDATE", header(flags=0x2800) + Q, "NOTIMP"),
    ("opcode 15", header(flags=0x7800) + Q, "NOTIMP"),
    ("answer count without records", header(an=1) + Q, "FORMERR"),
    # Records in the answer and authority sections are allowed when they parse (RFC 1035
    # does not forbid them); the question is answered as usual.
    ("answer record that parses", header(an=1) + Q + A_RECORD, "NOERROR"),
    ("authority record that parses", header(ns=1, ar=1) + Q + A_RECORD + opt(), "NOERROR"),
    ("answer record cut", header(an=1) + Q + A_RECORD[:-1], "FORMERR"),
    ("OPT in the answer section", header(an=1) + Q + opt(), "FORMERR"),
    # RFC 1995 §3: an IXFR carries the client's SOA, owned by the zone asked for.
    ("IXFR without SOA", header() + QNAME + b"\x00\xfb\x00\x01", "FORMERR"),
    ("IXFR SOA of another name", header(ns=1) + QNAME + b"\x00\xfb\x00\x01" + soa(owner=b"\x00"), "FORMERR"),
    # RFC 8945 §5.1: TSIG is the last additional record.
    ("TSIG before OPT", header(ar=2) + Q + tsig() + opt(), "FORMERR"),
    ("TSIG in the authority section", header(ns=1) + Q + tsig(), "FORMERR"),
    ("TSIG rdata cut", header(ar=1) + Q + tsig()[:-1], "FORMERR"),
    ("authority count in a query", header(ns=1) + Q + opt(), "FORMERR"),
    ("additional count without records", header(ar=1) + Q, "FORMERR"),
    ("OPT fixed part cut", header(ar=1) + Q + opt()[:6], "FORMERR"),
    ("OPT rdlength past end", header(ar=1) + Q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 40), "FORMERR"),
    ("OPT option overruns rdata", header(ar=1) + Q + opt(rdata=struct.pack("!HH", 10, 50) + b"x"), "FORMERR"),
    ("OPT option header cut", header(ar=1) + Q + opt(rdata=b"\x00\x0a\x00"), "FORMERR"),
    ("two OPT records", header(ar=2) + Q + opt() + opt(), "FORMERR"),
    ("OPT with a non-root owner", header(ar=1) + Q + opt(owner=b"\x01a\x00"), "FORMERR"),
    ("EDNS version 1", header(ar=1) + Q + opt(version=1), "BADVERS"),
    ("EDNS version 255", header(ar=1) + Q + opt(version=255), "BADVERS"),
    ("trailing garbage", header() + Q + b"\x00\x00\x00", "FORMERR"),
    ("arcount 65535", header(ar=65535) + Q + opt(), "FORMERR"),
    ("additional record cut", header(ar=1) + Q + b"\x00\x00\x01\x00", "FORMERR"),
]


def check_answer(name, packet, expected, raw):
    if expected is None:
        check(raw is None, f"{name}: expected no answer, got {raw!r}")
        return
    check(raw is not None, f"{name}: expected {expected}, got no answer")
    r = parse_message(raw)
    check(r.rcode == expected, f"{name}: expected {expected}, got {r}")
    check("qr" in r.flags, f"{name}: QR not set")
    check(r.id == struct.unpack("!H", packet[:2])[0], f"{name}: id not echoed")


def udp_exchange(s, packet, timeout):
    try:
        return send_udp(s.host, s.port, packet, timeout)
    except socket.timeout:
        return None


def test_cases_over_udp(s):
    check(len(CASES) >= 30, len(CASES))
    for name, packet, expected in CASES:
        if not packet:
            continue  # an empty datagram cannot be told from nothing over UDP; TCP below
        raw = udp_exchange(s, packet, 1.0 if expected else 0.3)
        check_answer(name, packet, expected, raw)
    check(query(s, "www.core.test", "A").rcode == "NOERROR", "server still answers over UDP")


def test_cases_over_tcp(s):
    for name, packet, expected in CASES:
        c = socket.create_connection((s.host, s.port), timeout=2)
        try:
            c.sendall(struct.pack("!H", len(packet)) + packet)
            c.settimeout(1.0 if expected else 0.3)
            try:
                head = c.recv(2)
                raw = c.recv(65535) if len(head) == 2 else None
                while raw is not None and len(raw) < struct.unpack("!H", head)[0]:
                    raw += c.recv(65535)
            except socket.timeout:
                raw = None
            check_answer(name, packet, expected, raw)
        finally:
            c.close()
    check(query(s, "www.core.test", "A", tcp=True).rcode == "NOERROR", "server still answers over TCP")


def test_formerr_carries_opt_when_the_query_had_one(s):
    # issue 14: a FORMERR to a query with a well-formed OPT still speaks EDNS (RFC 6891 §7).
    trailing_after_opt = header(ar=1) + Q + opt() + b"\x00"
    two_opts = header(ar=2) + Q + opt() + opt()
    for packet in (trailing_after_opt, two_opts):
        r = parse_message(send_udp(s.host, s.port, packet, 2.0))
        check(r.rcode == "FORMERR", r)
        check(r.edns is not None, f"FORMERR without OPT: {r}")
    r = parse_message(send_udp(s.host, s.port, header(an=1) + Q, 2.0))
    check(r.rcode == "FORMERR" and r.edns is None, r)


def test_tcp_framing_abuse(s):
    # A zero length closes the connection; a short message followed by close is dropped.
    for data in (b"\x00\x00", b"\x00\x30" + Q, b"\xff\xff" + b"x" * 100, b"\x00"):
        c = socket.create_connection((s.host, s.port), timeout=2)
        c.sendall(data)
        c.close()
    # A malformed message mid-stream does not stop later ones on the same connection.
    good = header(qid=1) + Q
    bad = header(qid=2, qd=0)
    answers = send_tcp(s.host, s.port, [good, bad, good])
    check([parse_message(a).rcode for a in answers] == ["NOERROR", "FORMERR", "NOERROR"], answers)
    check(query(s, "www.core.test", "A", tcp=True).rcode == "NOERROR", "server still answers")


def test_random_garbage(s):
    rng = random.Random(8461)
    for i in range(400):
        size = rng.randint(0, 120)
        packet = bytes(rng.getrandbits(8) for _ in range(size))
        if i % 2:
            # Keep a plausible header so the decoder gets further.
            packet = header(qid=i, flags=rng.choice([0, 0x0100])) + packet
        raw = udp_exchange(s, packet, 0.05) if packet else None
        if raw is not None:
            r = parse_message(raw)
            check("qr" in r.flags, r)
    for i in range(50):
        # Mutations of a valid query: flip bytes past the header.
        packet = bytearray(header(qid=i, ar=1) + Q + opt())
        for _ in range(3):
            packet[rng.randrange(12, len(packet))] = rng.getrandbits(8)
        udp_exchange(s, bytes(packet), 0.05)
    check(query(s, "www.core.test", "A").rcode == "NOERROR", "server still answers after garbage")


if __name__ == "__main__":
    run_tests(CONFIG, [test_cases_over_udp, test_cases_over_tcp, test_formerr_carries_opt_when_the_query_had_one,
                       test_tcp_framing_abuse, test_random_garbage])
