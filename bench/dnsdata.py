"""Data sets and a small DNS client for the stsd benchmark harness (standard library only).

Every server in a run serves the same names with the same bytes:
  * stsd gets N domains through `stsctl import FILE.csv --confirm-now` and serves, in
    NS-delegation mode (issue 3), the zone `_mta-sts.<domain>.` for each of them;
  * Knot and NSD get one zone file whose apex is the domains' common parent (`example.`)
    holding, at the identical names `_mta-sts.<domain>.`, the identical TXT record
    `v=STSv1; id=<id>;` with the id read back from stsd over DNS (fetch below).

The query files are shuffled with a fixed seed so that every server sees the same stream
and the lookups spread over the whole data set (no artificial cache locality).
"""
from __future__ import annotations

import collections
import os
import random
import re
import select
import socket
import struct
import time
from dataclasses import dataclass

PARENT_ZONE = "example."
NAMESERVER = "ns1.provider.test."
HOSTMASTER = "hostmaster.provider.test."
TTL = 300
# RFC 8461 §3.1: the id is 1-32 alphanumerics.
ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")
TXT_PATTERN = re.compile(r"^v=STSv1; id=([A-Za-z0-9]{1,32});$")


def domain(i: int) -> str:
    """The i-th benchmark domain (no trailing dot), e.g. dom42.example."""
    return f"dom{i}.{PARENT_ZONE[:-1]}"


def owner(i: int) -> str:
    """The owner name of the i-th domain's MTA-STS TXT record (absolute)."""
    return f"_mta-sts.{domain(i)}."


def write_csv(path: str, count: int, max_age: int = 604800) -> None:
    """The stsctl import file (issue 3: header domain,mode,mx,max_age; mx space-separated)."""
    with open(path, "w", encoding="ascii") as out:
        out.write("domain,mode,mx,max_age\n")
        for i in range(count):
            d = domain(i)
            out.write(f"{d},enforce,mx1.{d} *.mail.{d},{max_age}\n")


def write_peer_zone(path: str, ids: list[str], serial: int = 1) -> None:
    """One zone for the peers holding every domain's _mta-sts TXT (see module docstring)."""
    with open(path, "w", encoding="ascii") as out:
        out.write(f"$ORIGIN {PARENT_ZONE}\n$TTL {TTL}\n")
        out.write(f"@ {TTL} IN SOA {NAMESERVER} {HOSTMASTER} {serial} 3600 600 604800 {TTL}\n")
        out.write(f"@ {TTL} IN NS {NAMESERVER}\n")
        suffix = "." + PARENT_ZONE
        for i, ident in enumerate(ids):
            rel = owner(i)[: -len(suffix)]
            out.write(f'{rel} IN TXT "v=STSv1; id={ident};"\n')


def write_queries(path: str, count: int, nx_percent: int, total: int, seed: int = 8461) -> None:
    """A dnsperf input file of `total` TXT queries, `nx_percent` % of them NXDOMAIN.

    The NXDOMAIN names lie inside a zone every server is authoritative for
    (`nx<k>._mta-sts.<domain>.`), so every server answers NXDOMAIN with its SOA rather
    than REFUSED.
    """
    rng = random.Random(seed)
    with open(path, "w", encoding="ascii") as out:
        for k in range(total):
            i = rng.randrange(count)
            if nx_percent and rng.randrange(100) < nx_percent:
                out.write(f"nx{k}.{owner(i)} TXT\n")
            else:
                out.write(f"{owner(i)} TXT\n")


# --- a minimal DNS client -------------------------------------------------------------

def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        if label:
            out.append(len(label))
            out += label.encode("ascii")
    out.append(0)
    return bytes(out)


def build_query(qid: int, name: str, qtype: int = 16, edns: bool = True) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0000, 1, 0, 0, 1 if edns else 0)
    question = encode_name(name) + struct.pack("!HH", qtype, 1)
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0) if edns else b""
    return header + question + opt


def _skip_name(msg: bytes, pos: int) -> int:
    while True:
        if pos >= len(msg):
            raise ValueError("name runs past the message")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


@dataclass
class Response:
    qid: int
    flags: int
    rcode: int
    answers: list[tuple[int, bytes]]  # (type, rdata)
    authority: int
    size: int
    received: float = 0.0   # time.monotonic() when it arrived (set by fetch)

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & 0x0400)

    def txt_strings(self) -> list[list[str]]:
        result = []
        for rtype, rdata in self.answers:
            if rtype != 16:
                continue
            strings, pos = [], 0
            while pos < len(rdata):
                n = rdata[pos]
                strings.append(rdata[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
                pos += 1 + n
            result.append(strings)
        return result

    def soa_serial(self) -> int | None:
        """The serial of the first SOA in the answer (its last 20 rdata bytes are
        SERIAL REFRESH RETRY EXPIRE MINIMUM, RFC 1035 §3.3.13), or None."""
        for rtype, rdata in self.answers:
            if rtype == 6 and len(rdata) >= 22:
                return struct.unpack("!I", rdata[-20:-16])[0]
        return None


def parse_response(msg: bytes) -> Response:
    qid, flags, qd, an, ns, _ = struct.unpack("!HHHHHH", msg[:12])
    pos = 12
    for _ in range(qd):
        pos = _skip_name(msg, pos) + 4
    answers = []
    for _ in range(an):
        pos = _skip_name(msg, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[pos : pos + 10])
        pos += 10
        answers.append((rtype, msg[pos : pos + rdlen]))
        pos += rdlen
    return Response(qid, flags, flags & 0xF, answers, ns, len(msg))


def query(server: str, port: int, name: str, qtype: int = 16, timeout: float = 1.0) -> Response | None:
    """One UDP query; None on timeout or an unusable reply."""
    qid = random.randrange(65536)
    with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(build_query(qid, name, qtype), (server, port))
            while True:
                data, _ = s.recvfrom(65535)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    return parse_response(data)
        except (OSError, ValueError, struct.error):
            return None


def wait_for_answer(server: str, port: int, name: str, deadline_s: float, pid_alive) -> float | None:
    """Polls until the server answers `name` with NOERROR; returns the time it did, or None."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if not pid_alive():
            return None
        r = query(server, port, name, timeout=0.05)
        if r is not None and r.rcode == 0 and r.answers:
            return time.monotonic()
        time.sleep(0.01)
    return None


def fetch(server: str, port: int, names: list[str], qtype: int = 16, window: int = 256,
          timeout_s: float = 600.0, progress=None) -> dict[str, Response]:
    """Queries every name for `qtype` over UDP with up to `window` queries in flight
    (bounded by `timeout_s` overall and 5 tries per name); returns name -> Response."""
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    results: dict[str, Response] = {}
    pending: dict[int, tuple[str, float, int]] = {}   # qid -> (name, sent_at, tries)
    todo = [(n, 0) for n in reversed(names)]
    free_ids = list(range(65536))
    random.shuffle(free_ids)
    end = time.monotonic() + timeout_s
    try:
        while (todo or pending) and time.monotonic() < end:
            while todo and len(pending) < window:
                name, tries = todo.pop()
                if tries >= 5:
                    continue
                qid = free_ids.pop()
                try:
                    sock.sendto(build_query(qid, name, qtype), (server, port))
                except BlockingIOError:
                    todo.append((name, tries))
                    free_ids.append(qid)
                    break
                pending[qid] = (name, time.monotonic(), tries + 1)
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                while True:
                    try:
                        data = sock.recv(65535)
                    except BlockingIOError:
                        break
                    if len(data) < 12:
                        continue
                    qid = struct.unpack("!H", data[:2])[0]
                    entry = pending.pop(qid, None)
                    if entry is None:
                        continue
                    free_ids.append(qid)
                    try:
                        answer = parse_response(data)
                        answer.received = time.monotonic()
                        results[entry[0]] = answer
                    except (ValueError, struct.error):
                        todo.append((entry[0], entry[2]))
                    if progress and len(results) % 100000 == 0:
                        progress(len(results), len(names))
            now = time.monotonic()
            for qid, (name, sent, tries) in list(pending.items()):
                if now - sent > 1.0:
                    del pending[qid]
                    free_ids.append(qid)
                    todo.append((name, tries))
    finally:
        sock.close()
    return results


# The one TXT string of a well-formed MTA-STS answer, found in the raw message: its
# length byte, then the string (RFC 8461 §3.1).
_RAW_TXT = re.compile(rb"v=STSv1; id=([A-Za-z0-9]{1,32});")


def _owner_wire(i: int) -> bytes:
    label = f"dom{i}".encode("ascii")
    return b"\x08_mta-sts" + bytes([len(label)]) + label + b"\x07example\x00"


def read_ids(server: str, port: int, first: int, count: int, window: int = 512,
             timeout_s: float = 300.0) -> list[str | None]:
    """The ids served for owner(first) .. owner(first + count - 1) (count <= 65536: the
    query id is the offset), None where no well-formed MTA-STS answer came. Much faster
    than fetch for millions of names: the query is built from bytes, the answer is
    checked in place (NOERROR, one answer RR, one TXT string `v=STSv1; id=...;`), and
    lost queries are retried after 1 s from a queue in send order."""
    if count > 65536:
        raise ValueError("read_ids: at most 65536 names per call")
    tail = struct.pack("!HH", 16, 1) + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    ids: list[str | None] = [None] * count
    answered = bytearray(count)
    tries = bytearray(count)
    queue: collections.deque = collections.deque()   # (qid, sent_at) in send order
    sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect((server, port))
    next_qid, in_flight, done = 0, 0, 0
    end = time.monotonic() + timeout_s

    def send(qid: int) -> bool:
        try:
            sock.send(struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1) + _owner_wire(first + qid) + tail)
        except BlockingIOError:
            return False
        tries[qid] += 1
        queue.append((qid, time.monotonic()))
        return True

    try:
        while done < count and time.monotonic() < end:
            while in_flight < window and next_qid < count and send(next_qid):
                next_qid += 1
                in_flight += 1
            progressed = False
            while True:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    break
                if len(data) < 12:
                    continue
                qid = (data[0] << 8) | data[1]
                if qid >= count or answered[qid]:
                    continue
                answered[qid] = 1
                in_flight -= 1
                done += 1
                progressed = True
                m = _RAW_TXT.search(data)
                one_txt = (data[3] & 0x0F) == 0 and data[6:8] == b"\x00\x01"
                if one_txt and m and data[m.start() - 1] == m.end() - m.start():
                    ids[qid] = m.group(1).decode("ascii")
            now = time.monotonic()
            while queue and (answered[queue[0][0]] or now - queue[0][1] > 1.0):
                qid, _ = queue.popleft()
                if answered[qid]:
                    continue
                if tries[qid] >= 5:
                    answered[qid] = 1
                    in_flight -= 1
                    done += 1
                elif not send(qid):
                    queue.appendleft((qid, now))
                    break
            if not progressed:
                select.select([sock], [], [], 0.01)
    finally:
        sock.close()
    return ids


def served_id(resp: Response | None) -> str | None:
    """The id of a well-formed MTA-STS answer (exactly one TXT, one string), else None."""
    if resp is None or resp.rcode != 0:
        return None
    txts = resp.txt_strings()
    if len(txts) != 1 or len(txts[0]) != 1:
        return None
    m = TXT_PATTERN.match(txts[0][0])
    return m.group(1) if m else None


def synthetic_ids(count: int, seed: int = 6) -> list[str]:
    """Ids of the stsd shape (date/version prefix + 10 digest characters), for a run
    without stsd: one seeded block of random bytes, so that 10M ids take seconds."""
    digits = random.Random(seed).randbytes(5 * count).hex()
    day = time.strftime("%Y%m%d", time.gmtime())
    return [f"{day}v1{digits[10 * i:10 * i + 10]}" for i in range(count)]


def ensure_dir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path
