"""Core DNS behaviour over the real binary: UDP and TCP, EDNS, truncation and TCP
retry, REFUSED outside every zone, the header rules, several server blocks."""
import socket
import struct
import time

from harness import (Stsd, build_query, check, check_udp_burst, free_port, kdig, parse_message, query, recv_exact, run_tests,
                     send_tcp, send_udp)

SECOND_PORT = free_port()
CONFIG = f"""
udp_size: 1232
tcp: {{ idle_timeout: 2s, max_connections: 50 }}
servers:
  - listen: ["127.0.0.1:{{port}}", "[::1]:{{port}}"]
    plugins:
      file:
        - zone: core.test.
          path: {{source}}/tests/e2e/zones/core.test.zone
  - listen: ["127.0.0.2:{SECOND_PORT}"]
    plugins:
      chaos: {{ version: "second block" }}
"""


def test_udp_and_tcp_answers(s):
    for tcp in (False, True):
        r = kdig(s, "www.core.test", "A", tcp=tcp)
        check(r.rcode == "NOERROR", r)
        check("aa" in r.flags and "ra" not in r.flags, r)
        check(r.rdatas("A") == ["192.0.2.80"], r)


def test_ipv6_listener(s):
    r = kdig(("::1", s.port), "www.core.test", "AAAA")
    check(r.rdatas("AAAA") == ["2001:db8::80"], r)


def test_refused_outside_zones(s):
    for tcp in (False, True):
        r = kdig(s, "www.example.net", "A", tcp=tcp)
        check(r.rcode == "REFUSED" and "aa" not in r.flags, r)


def test_rd_copied_and_case_echoed(s):
    r = query(s, "WwW.CoRe.TeSt", "A", flags=0x0100)
    check("rd" in r.flags and "ra" not in r.flags, r)
    check(r.question[0][0] == "WwW.CoRe.TeSt.", r.question)
    r = query(s, "www.core.test", "A", flags=0)
    check("rd" not in r.flags, r)


def test_edns_echoed_with_our_size(s):
    r = query(s, "www.core.test", "A", edns={"size": 4096})
    check(r.edns is not None and r.edns["udp"] == 1232 and r.edns["version"] == 0, r)
    r = query(s, "www.core.test", "A")
    check(r.edns is None, r)


def test_edns_unknown_option_ignored(s):
    opt = struct.pack("!HH", 65001, 3) + b"abc"
    r = query(s, "www.core.test", "A", edns={"size": 1232, "options": opt})
    check(r.rcode == "NOERROR" and r.rdatas("A") == ["192.0.2.80"], r)


def test_badvers(s):
    r = query(s, "www.core.test", "A", edns={"size": 1232, "version": 1})
    check(r.rcode == "BADVERS" and r.edns is not None, r)
    r = kdig(s, "www.core.test", "A", args=["+edns=1"])
    check(r.rcode == "BADVERS", r)


def test_truncation_and_tcp_retry(s):
    # 40 TXT records of ~75 octets do not fit in 512 or 1232 octets.
    r = query(s, "big.core.test", "TXT")
    check("tc" in r.flags and not r.answer and r.size <= 512, r)
    r = query(s, "big.core.test", "TXT", edns={"size": 1232})
    check("tc" in r.flags and r.size <= 1232, r)
    r = query(s, "big.core.test", "TXT", tcp=True)
    check("tc" not in r.flags and len(r.answer) == 40, r)
    # kdig retries over TCP by itself when it sees TC.
    r = kdig(s, "big.core.test", "TXT")
    check(len(r.answer) == 40 and "tc" not in r.flags, r)


def test_client_buffer_bounds_reply(s):
    r = query(s, "big.core.test", "TXT", edns={"size": 600})
    check(r.size <= 600 and "tc" in r.flags, r)


def test_tcp_several_queries_per_connection(s):
    msgs = [build_query(n, "A", qid=i) for i, n in enumerate(["www.core.test", "nope.core.test", "small.core.test"] * 5)]
    answers = [parse_message(m) for m in send_tcp(s.host, s.port, msgs)]
    check([a.id for a in answers] == list(range(15)), [a.id for a in answers])
    check(answers[0].rcode == "NOERROR" and answers[1].rcode == "NXDOMAIN", answers[:2])


def test_tcp_split_and_batched_messages(s):
    # Messages arrive in any segmentation (RFC 7766 §8): byte by byte, split inside the
    # length prefix, 300 in one send; every one is answered once, in order.
    msgs = [build_query("www.core.test" if i % 2 else "nope.core.test", "A", qid=i) for i in range(300)]
    stream = b"".join(struct.pack("!H", len(m)) + m for m in msgs)
    c = socket.create_connection((s.host, s.port), timeout=5)
    try:
        first = struct.pack("!H", len(msgs[0])) + msgs[0]
        for byte in first[:5]:
            c.sendall(bytes([byte]))
            time.sleep(0.01)
        c.sendall(first[5:] + stream[len(first):len(first) + 1])   # ends inside a length prefix
        time.sleep(0.05)
        c.sendall(stream[len(first) + 1:])
        answers = []
        for _ in msgs:
            head = recv_exact(c, 2)
            answers.append(parse_message(recv_exact(c, struct.unpack("!H", head)[0])))
    finally:
        c.close()
    check([a.id for a in answers] == list(range(300)), [a.id for a in answers][:20])
    check(all(a.rcode == ("NOERROR" if a.id % 2 else "NXDOMAIN") for a in answers), answers[:2])


def test_tcp_answers_before_a_zero_length_prefix(s):
    # A zero length is not a message: the answers before it still arrive, then the close.
    c = socket.create_connection((s.host, s.port), timeout=5)
    try:
        m = build_query("www.core.test", "A", qid=7)
        c.sendall(struct.pack("!H", len(m)) + m + b"\x00\x00")
        a = parse_message(recv_exact(c, struct.unpack("!H", recv_exact(c, 2))[0]))
        check(a.id == 7 and a.rcode == "NOERROR", a)
        check(c.recv(10) == b"", "connection left open after a zero length prefix")
    finally:
        c.close()


def test_tcp_idle_timeout_closes(s):
    c = socket.create_connection((s.host, s.port), timeout=6)
    c.settimeout(6)
    try:
        data = c.recv(10)  # the server closes an idle client after 2 s
        check(data == b"", data)
    finally:
        c.close()


def test_tcp_connection_cap(s):
    # At the cap of 50 a new client is still served: the connection that has waited
    # longest for its client gives way (here the first ones opened, idle since).
    conns = []
    try:
        for _ in range(60):
            conns.append(socket.create_connection((s.host, s.port), timeout=3))
        time.sleep(0.3)
        closed = []
        for i, c in enumerate(conns):
            c.setblocking(False)
            try:
                if c.recv(10) == b"":
                    closed.append(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.append(i)
            c.setblocking(True)
        check(len(closed) == 10 and max(closed) < 50, closed)
        for i, c in enumerate(conns[50:]):
            m = build_query("www.core.test", "A", qid=i)
            c.sendall(struct.pack("!H", len(m)) + m)
            a = parse_message(recv_exact(c, struct.unpack("!H", recv_exact(c, 2))[0]))
            check(a.id == i and a.rcode == "NOERROR", a)
    finally:
        for c in conns:
            c.close()
    # The server still answers afterwards.
    r = query(s, "www.core.test", "A", tcp=True)
    check(r.rcode == "NOERROR", r)


def test_stalled_client_does_not_block_others(s):
    stalled = socket.create_connection((s.host, s.port), timeout=3)
    stalled.sendall(b"\x00\x40" + b"\x00" * 10)  # announces 64 octets, sends 10
    try:
        for _ in range(5):
            r = query(s, "www.core.test", "A", tcp=True)
            check(r.rcode == "NOERROR", r)
    finally:
        stalled.close()


def test_second_server_block(s):
    r = kdig(("127.0.0.2", SECOND_PORT), "version.bind", "TXT", cls="CH")
    check(r.rcode == "NOERROR" and r.rdatas("TXT") == ['"second block"'], r)
    r = kdig(("127.0.0.2", SECOND_PORT), "www.core.test", "A")
    check(r.rcode == "REFUSED", r)


def test_wildcard_listener_answers_from_address_asked(_):
    # Bound to 0.0.0.0/::, the answer must come from the address the client asked, or a
    # resolver (connected socket, source check) never sees it.
    config = """
servers:
  - listen: [":{port}"]
    plugins:
      chaos: { version: "any address" }
"""
    with Stsd(config) as wild:
        for host, family in (("127.0.0.3", socket.AF_INET), ("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.settimeout(2)
            try:
                sock.connect((host, wild.port))
                sock.send(build_query("version.bind", "TXT", qid=0x4242, cls=3))
                raw, source = sock.recvfrom(4096)
            finally:
                sock.close()
            check(source[0] == host, f"answer for {host} came from {source}")
            check(parse_message(raw).id == 0x4242, raw)


def test_udp_burst_each_answer_to_its_client(s):
    check_udp_burst(s.port, lambda k, n: f"www{(k + n) % 3}.core.test" if (k + n) % 3 else "www.core.test")


def test_axfr_refused(s):
    r = query(s, "core.test", "AXFR", tcp=True)
    check(r.rcode == "REFUSED", r)


if __name__ == "__main__":
    run_tests(CONFIG, [test_udp_and_tcp_answers, test_ipv6_listener, test_refused_outside_zones,
                       test_rd_copied_and_case_echoed, test_edns_echoed_with_our_size, test_edns_unknown_option_ignored,
                       test_badvers, test_truncation_and_tcp_retry, test_client_buffer_bounds_reply,
                       test_tcp_several_queries_per_connection, test_tcp_split_and_batched_messages,
                       test_tcp_answers_before_a_zero_length_prefix, test_tcp_idle_timeout_closes, test_tcp_connection_cap,
                       test_stalled_client_does_not_block_others, test_second_server_block, test_axfr_refused,
                       test_wildcard_listener_answers_from_address_asked,
                       test_udp_burst_each_answer_to_its_client])
