"""The rrl plugin behind the real binary, with python UDP sockets: a flood from
127.0.0.1 at 100x the rate for a bounded time gets at most rate x (seconds + 1) full
answers, and a truncated one for every second answer over the rate (slip 2), as the
metrics count them; meanwhile a client on 127.0.0.2 loses no answer, TCP from the
flooding address is not limited, nor is a client on the flooding address that returns
a valid server cookie (the cookies plugin, RFC 7873); random names cannot widen the
NXDOMAIN budget."""
import os
import random
import socket
import struct
import threading
import time
import urllib.request

from harness import build_query, check, free_port, parse_message, read_name, run_tests

RATE = 20
FLOOD_QPS = 100 * RATE
FLOOD_SECONDS = 2.0
METRICS_PORT = free_port()

CONFIG = f"""
servers:
  - listen: ["127.0.0.1:{{port}}"]
    plugins:
      metrics: {{}}
      cookies: {{}}
      rrl:
        rate: {RATE}
        slip: 2
        ipv4_prefix: 32
      file:
        - zone: example.org.
          path: {{source}}/zones/example.org.zone
metrics:
  listen: 127.0.0.1:{METRICS_PORT}
"""


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as r:
        body = r.read().decode()
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def metric(samples, name, server, **labels):
    label_text = "".join(f',{k}="{v}"' for k, v in labels.items())
    return samples.get(f'{name}{{server="127.0.0.1:{server.port}"{label_text}}}', 0.0)


class Flood:
    """UDP queries from `source` at `qps` for `seconds`, paced; a thread reads the answers.
    `names` picks the query name of the n-th query."""

    def __init__(self, server, source, names, qps, seconds, qtype="A"):
        self.server, self.names, self.qps, self.seconds, self.qtype = server, names, qps, seconds, qtype
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((source, 0))
        self.sent = 0
        self.full = self.truncated = 0
        self.elapsed = 0.0
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)

    def _read(self):
        self.sock.settimeout(0.2)
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                if self._done.is_set():
                    return
                continue
            flags, answers = struct.unpack("!H", data[2:4])[0], struct.unpack("!H", data[6:8])[0]
            if flags & 0x0200:
                self.truncated += 1
            elif answers or flags & 0x000f == 3:
                self.full += 1

    def run(self):
        self._reader.start()
        address = (self.server.host, self.server.port)
        total = int(self.qps * self.seconds)
        started = time.monotonic()
        while self.sent < total:
            due = min(int((time.monotonic() - started) * self.qps) + 1, total)
            while self.sent < due:
                self.sock.sendto(build_query(self.names(self.sent), self.qtype, qid=self.sent & 0xffff), address)
                self.sent += 1
            time.sleep(0.001)
        self.elapsed = time.monotonic() - started
        time.sleep(1.0)  # late answers
        self._done.set()
        self._reader.join()
        self.sock.close()
        return self

    def max_full(self, rate):
        # At most `rate` per second of the server's clock; a flood of d seconds touches at
        # most floor(d) + 2 of them (the server may also answer a moment after).
        return rate * (int(self.elapsed) + 2)


def steady_client(server, source, qname, interval, until, outcomes):
    """One query every `interval` seconds from `source`, each waiting for its answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(2.0)
    try:
        while not until.is_set():
            qid = random.randint(0, 65535)
            sock.sendto(build_query(qname, "A", qid=qid), (server.host, server.port))
            try:
                answer = parse_message(sock.recv(4096))
                outcomes.append("full" if answer.id == qid and "tc" not in answer.flags and answer.answer else
                                f"wrong: {answer}")
            except socket.timeout:
                outcomes.append("lost")
            time.sleep(interval)
    finally:
        sock.close()


def tcp_client(server, source, qname, count, outcomes):
    """`count` queries over one TCP connection from `source` (the flooded address)."""
    sock = socket.create_connection((server.host, server.port), timeout=5, source_address=(source, 0))
    try:
        messages = [build_query(qname, "A", qid=i) for i in range(count)]
        sock.sendall(b"".join(struct.pack("!H", len(m)) + m for m in messages))
        buffer = b""
        while len(outcomes) < count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack("!H", buffer[:2])[0]:
                size = struct.unpack("!H", buffer[:2])[0]
                answer = parse_message(buffer[2:2 + size])
                buffer = buffer[2 + size:]
                outcomes.append("full" if "tc" not in answer.flags and answer.answer else f"wrong: {answer}")
            if len(outcomes) < count:
                time.sleep(0.01)
    finally:
        sock.close()


COOKIE = 10  # the EDNS option code (RFC 7873 §4)


def edns_options(message):
    """The options of the OPT record in `message`, as {code: data}; None without OPT."""
    counts = struct.unpack("!HHHH", message[4:12])
    offset = 12
    for _ in range(counts[0]):
        offset = read_name(message, offset)[1] + 4
    for _ in range(sum(counts[1:])):
        offset = read_name(message, offset)[1]
        rtype, _, _, length = struct.unpack("!HHIH", message[offset:offset + 10])
        offset += 10
        if rtype == 41:
            options, at = {}, offset
            while at + 4 <= offset + length:
                code, size = struct.unpack("!HH", message[at:at + 4])
                options[code] = message[at + 4:at + 4 + size]
                at += 4 + size
            return options
        offset += length
    return None


def cookie_query(qname, cookie, qid):
    option = struct.pack("!HH", COOKIE, len(cookie)) + cookie
    return build_query(qname, "A", qid=qid, edns={"size": 1232, "options": option})


def fetch_server_cookie(server, source, qname):
    """Sends a fresh client cookie from `source`; returns client and server cookie as the
    answer carries them (RFC 7873 §5.3)."""
    client = os.urandom(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2.0)
        sock.sendto(cookie_query(qname, client, 0), (server.host, server.port))
        cookie = (edns_options(sock.recv(4096)) or {}).get(COOKIE, b"")
    check(len(cookie) == 24 and cookie[:8] == client, f"a client and an RFC 9018 server cookie: {cookie.hex()}")
    return cookie


def cookie_client(server, source, qname, cookie, count, interval, outcomes):
    """Asks `count` times from `source`, every `interval` seconds, with `cookie`, and
    keeps whichever cookie each answer carries (RFC 7873 §5.3)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2.0)
        for n in range(1, count + 1):
            sock.sendto(cookie_query(qname, cookie, n), (server.host, server.port))
            try:
                raw = sock.recv(4096)
            except socket.timeout:
                outcomes.append("lost")
                continue
            answer, options = parse_message(raw), edns_options(raw) or {}
            if len(options.get(COOKIE, b"")) == 24:
                cookie = options[COOKIE]
            outcomes.append("full" if answer.id == n and "tc" not in answer.flags and answer.answer else
                            f"wrong: {answer} {options}")
            time.sleep(interval)


def test_flood_is_limited_while_others_are_not(stsd):
    # A client on the flooding address gets its server cookie first.
    cookie = fetch_server_cookie(stsd, "127.0.0.1", "www.example.org")
    before = scrape()
    # The flood asks for AAAA, so that the server's count of AAAA queries is the flood's;
    # everything else asks for A.
    flood = Flood(stsd, "127.0.0.1", lambda n: "www.example.org", FLOOD_QPS, FLOOD_SECONDS, qtype="AAAA")
    # Another network (127.0.0.2 is its own /32 here) asks at half the rate meanwhile.
    stop_steady = threading.Event()
    steady, tcp, cookies = [], [], []
    clients = [
        threading.Thread(target=steady_client, args=(stsd, "127.0.0.2", "www.example.org", 0.1, stop_steady, steady)),
        # Halfway through, the flooding address asks over TCP, more than the rate at once.
        threading.Timer(FLOOD_SECONDS / 2, tcp_client, args=(stsd, "127.0.0.1", "www.example.org", 50, tcp)),
        # The flooding address also asks with its valid cookie, at 2.5 times the rate.
        threading.Thread(target=cookie_client,
                         args=(stsd, "127.0.0.1", "www.example.org", cookie, 60, 1 / (2.5 * RATE), cookies)),
    ]
    for client in clients:
        client.start()
    flood.run()
    stop_steady.set()
    for client in clients:
        client.join()
    after = scrape()

    def delta(name, **labels):
        return metric(after, name, stsd, **labels) - metric(before, name, stsd, **labels)

    # The server's account: the flood's queries that reached it passed, were slipped or
    # were dropped; the dropped ones are queries without a response for metrics too.
    reached = delta("stsd_dns_requests_total", proto="udp", type="AAAA")
    dropped = delta("stsd_rrl_dropped_total", **{"class": "positive"})
    slipped = delta("stsd_rrl_slipped_total", **{"class": "positive"})
    passed = reached - dropped - slipped
    seconds = int(flood.elapsed) + 2
    report = (f"sent {flood.sent} in {flood.elapsed:.2f}s, {reached:.0f} reached the server: {passed:.0f} passed, "
              f"{slipped:.0f} slipped, {dropped:.0f} dropped; received {flood.full} full, {flood.truncated} truncated")
    print(report)
    check(flood.sent == int(FLOOD_QPS * FLOOD_SECONDS) and flood.elapsed < FLOOD_SECONDS + 1.0, report)
    check(reached >= flood.sent / 2, report)  # a flood at 50x the rate at least, even on a busy machine
    # Within the rate: at most `rate` answers in each second the flood touched.
    check(RATE <= passed <= flood.max_full(RATE), report)
    # Slip 2: every second answer over the rate, per bucket and second.
    check(abs(dropped - slipped) <= seconds, report)
    check(delta("stsd_dns_responses_dropped_total") == dropped, report)
    # What the flooding address received: no more than that (and nearly all of it).
    check(flood.full <= passed and flood.truncated <= slipped, report)
    check(flood.full + flood.truncated >= 0.9 * (passed + slipped), report)

    # The other network lost nothing; TCP from the flooding address was not limited, nor
    # was the client there that proved its address with a cookie.
    check(len(steady) >= 10 and all(o == "full" for o in steady), steady)
    check(len(tcp) == 50 and all(o == "full" for o in tcp), tcp)
    check(len(cookies) == 60 and all(o == "full" for o in cookies), cookies)


def test_random_names_share_the_nxdomain_budget(stsd):
    # Made-up names from one network: one NXDOMAIN bucket, however many names.
    flood = Flood(stsd, "127.0.0.3", lambda n: f"r{random.getrandbits(48):x}.example.org", 20 * RATE, 1.0).run()
    report = f"sent {flood.sent} in {flood.elapsed:.2f}s: {flood.full} full, {flood.truncated} truncated"
    check(RATE <= flood.full <= flood.max_full(RATE), report)
    check(flood.truncated > 0, report)


if __name__ == "__main__":
    run_tests(CONFIG, [test_flood_is_limited_while_others_are_not, test_random_names_share_the_nxdomain_budget])
