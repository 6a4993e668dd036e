"""End-to-end test harness: start the real stsd binary on loopback and query it.

Usage from a test script (registered with stsd_add_e2e in CMake, which sets STSD_BIN,
STSD_SOURCE_DIR and PYTHONPATH):

    from harness import Stsd, kdig, query, check, run_tests

    CONFIG = '''
    servers:
      - listen: ["127.0.0.1:{port}"]
        plugins:
          file:
            - zone: example.org.
              path: {source}/zones/example.org.zone
    '''

    def test_soa(stsd):
        r = kdig(stsd, "example.org", "SOA")          # real kdig over UDP
        check(r.rcode == "NOERROR" and "aa" in r.flags, r)
        r = kdig(stsd, "example.org", "SOA", tcp=True) # and TCP

    if __name__ == "__main__":
        run_tests(CONFIG, [test_soa])

Config placeholders: {port} (a free port, UDP+TCP), {dir} (the test's temp folder),
{source} (the repository). `Stsd(config)` starts the server, waits until it answers,
and stops it with SIGTERM on exit (its log is printed when a test fails).
`query()` is a small stdlib DNS client for byte-level checks (malformed packets, exact
sections); `kdig()` runs the real kdig and parses its output.
"""
import os
import random
import shutil
import signal as signals
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

STSD_BIN = os.environ.get("STSD_BIN", os.path.join(os.path.dirname(__file__), "../../build/release/bin"))
SOURCE_DIR = os.environ.get("STSD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))


# Temp folders of the servers this script started: removed when every test passed, kept
# (config, log, store) for a look when one failed.
_OWN_DIRS = []


class TestFailure(AssertionError):
    pass


def check(condition, context=""):
    if not condition:
        raise TestFailure(f"check failed: {context}")


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on `host`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randint(20000, 60000)
        t = socket.socket(family, socket.SOCK_STREAM)
        u = socket.socket(family, socket.SOCK_DGRAM)
        try:
            t.bind((host, port))
            u.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port found")


class Stsd:
    """The real stsd binary on a loopback port, with its own temp folder."""

    def __init__(self, config, host="127.0.0.1", env=None, workdir=None, wait=True, port=None, wrapper=()):
        self.host = host
        self.port = port or free_port(host)
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="stsd-e2e-")
        if self._own_dir:
            _OWN_DIRS.append(self.dir)
        self.config_text = config
        self.config_path = os.path.join(self.dir, "stsd.yaml")
        self.log_path = os.path.join(self.dir, "stsd.log")
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.wait = wait
        self.wrapper = list(wrapper)  # a command that execs stsd, e.g. ["prlimit", "--nofile=256", "--"]

    def format(self, text):
        return (text.replace("{port}", str(self.port)).replace("{dir}", self.dir)
                .replace("{source}", SOURCE_DIR).replace("{bin}", STSD_BIN))

    def write_config(self, text=None):
        if text is not None:
            self.config_text = text
        with open(self.config_path, "w") as f:
            f.write(self.format(self.config_text))

    def start(self):
        self.write_config()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + [os.path.join(STSD_BIN, "stsd"), "--config", self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=self.dir)
        if self.wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"stsd exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                query(self, ".", "SOA", timeout=0.2)
                return
            except (socket.timeout, OSError):
                time.sleep(0.05)
        raise TestFailure(f"stsd did not answer within {timeout}s:\n{self.read_log()}")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signals.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("stsd did not stop within %ss of signal %s" % (timeout, sig))
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        # `with Stsd(...).start() as s` must not start a second server; a stopped one
        # is started again (restart tests re-enter the same Stsd).
        running = self.proc is not None and self.proc.poll() is None
        return self if running else self.start()

    def __exit__(self, exc_type, *exc):
        try:
            self.stop()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
            self.log.close()
        return False

    def run(self, tool, *args, check_rc=True, input=None, timeout=120):
        """Runs a binary from the build's bin folder (e.g. stsctl)."""
        p = subprocess.run([os.path.join(STSD_BIN, tool), *args], capture_output=True, text=True, input=input,
                           timeout=timeout, cwd=self.dir, env=self.env)
        if check_rc and p.returncode != 0:
            raise TestFailure(f"{tool} {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p


# --- kdig ---------------------------------------------------------------------------

def reload_and_wait(server, words):
    """Sends SIGHUP and waits (15 s at most) until `words` appears once more in the log."""
    before = server.read_log().count(words)
    server.signal(signals.SIGHUP)
    deadline = time.time() + 15
    while server.read_log().count(words) == before:
        check(time.time() < deadline, f"no '{words}' in the log after SIGHUP:\n" + server.read_log())
        time.sleep(0.1)


class Answer:
    """A parsed response: rcode ("NOERROR"), flags (set of "qr", "aa", "tc", ...),
    answer/authority/additional as lists of (name, ttl, class, type, rdata-text), raw text."""

    def __init__(self):
        self.rcode = None
        self.flags = set()
        self.answer, self.authority, self.additional = [], [], []
        self.edns = None  # dict when an OPT was present
        self.text = ""
        self.id = None

    def rdatas(self, rtype, section="answer"):
        return [rr[4] for rr in getattr(self, section) if rr[3] == rtype]

    def __repr__(self):
        return f"<Answer {self.rcode} flags={sorted(self.flags)} answer={self.answer} authority={self.authority} additional={self.additional} edns={self.edns}>"


def parse_kdig(text):
    a = Answer()
    a.text = text
    section = None
    for line in text.splitlines():
        if line.startswith(";; ->>HEADER<<-"):
            for part in line.split(";"):
                part = part.strip()
                if part.startswith("status:"):
                    a.rcode = part.split(":", 1)[1].strip()
                if part.startswith("id:"):
                    a.id = int(part.split(":", 1)[1])
        elif line.startswith(";; Flags:"):
            flags = line[len(";; Flags:"):].split(";")[0]
            a.flags = set(flags.split())
        elif line.startswith(";; EDNS PSEUDOSECTION:"):
            a.edns = {}
            section = "edns"
        elif section == "edns" and line.startswith(";; Version:"):
            for part in line[3:].split(";"):
                if ":" in part:
                    k, v = part.split(":", 1)
                    a.edns[k.strip().lower()] = v.strip()
        elif line.startswith(";; ANSWER SECTION:"):
            section = "answer"
        elif line.startswith(";; AUTHORITY SECTION:"):
            section = "authority"
        elif line.startswith(";; ADDITIONAL SECTION:"):
            section = "additional"
        elif line.startswith(";;") or not line.strip():
            if not line.strip():
                section = None if section != "edns" else None
        elif section in ("answer", "authority", "additional"):
            parts = line.split(None, 4)
            if len(parts) >= 4:
                name, ttl, cls, rtype = parts[:4]
                rdata = parts[4] if len(parts) > 4 else ""
                getattr(a, section).append((name.lower(), int(ttl), cls, rtype, rdata))
    return a


def kdig(server, name, rtype="A", tcp=False, args=(), cls="IN", timeout=3):
    """Runs the real kdig against `server` (a Stsd or (host, port)) and parses its output."""
    host, port = (server.host, server.port) if isinstance(server, Stsd) else server
    cmd = ["kdig", f"@{host}", "-p", str(port), "-c", cls, "-t", rtype, name, "+norecurse",
           f"+time={timeout}", "+retry=0"]
    if tcp:
        cmd.append("+tcp")
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
    a = parse_kdig(p.stdout)
    if a.rcode is None:
        raise TestFailure(f"kdig got no answer: {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return a


# --- a small stdlib DNS client ----------------------------------------------------

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "OPT": 41, "DS": 43, "AXFR": 252, "IXFR": 251, "ANY": 255, "CAA": 257}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def build_query(name, rtype="A", qid=None, flags=0, edns=None, cls=1):
    """edns: None (no OPT) or dict(size=1232, version=0, do=False, options=b'')."""
    qid = random.randint(0, 65535) if qid is None else qid
    t = TYPES[rtype] if isinstance(rtype, str) else rtype
    ar = 1 if edns is not None else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar) + encode_name(name) + struct.pack("!HH", t, cls)
    if edns is not None:
        options = edns.get("options", b"")
        ttl = (edns.get("version", 0) << 16) | (0x8000 if edns.get("do") else 0)
        msg += b"\0" + struct.pack("!HHIH", 41, edns.get("size", 1232), ttl, len(options)) + options
    return msg


def read_name(msg, off):
    labels = []
    jumped = False
    end = None
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        if n == 0:
            if not jumped:
                end = off + 1
            return (".".join(labels) + ".") if labels else ".", end
        labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n
    raise ValueError("name too long or looped")


def parse_message(msg):
    a = Answer()
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    a.id = qid
    names = ["qr", "aa", "tc", "rd", "ra", "z", "ad", "cd"]
    bits = [0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010]
    a.flags = {n for n, b in zip(names, bits) if flags & b}
    rcode = flags & 0xF
    off = 12
    a.question = []
    for _ in range(qd):
        name, off = read_name(msg, off)
        t, c = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        a.question.append((name, TYPE_NAMES.get(t, str(t)), c))
    for section, count in (("answer", an), ("authority", ns), ("additional", ar)):
        for _ in range(count):
            name, off = read_name(msg, off)
            t, c, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            rdata = msg[off:off + rdlen]
            if t == 41:
                a.edns = {"udp": c, "version": (ttl >> 16) & 0xFF, "ext_rcode": ttl >> 24, "do": bool(ttl & 0x8000),
                          "options": edns_options(rdata)}
                rcode |= (ttl >> 24) << 4
            else:
                getattr(a, section).append((name.lower(), ttl, c, TYPE_NAMES.get(t, str(t)), decode_rdata(msg, off, t, rdata)))
            off += rdlen
    a.rcode = RCODES.get(rcode, str(rcode))
    a.size = len(msg)
    a.raw = msg
    return a


def edns_options(rdata):
    """OPT's RDATA (RFC 6891 §6.1.2) as a list of (code, data)."""
    options, i = [], 0
    while i + 4 <= len(rdata):
        code, length = struct.unpack("!HH", rdata[i:i + 4])
        options.append((code, rdata[i + 4:i + 4 + length]))
        i += 4 + length
    return options


def extended_errors(answer):
    """The Extended DNS Errors (RFC 8914, option 15) of a parse_message answer, as a list of
    (INFO-CODE, EXTRA-TEXT)."""
    options = (answer.edns or {}).get("options", [])
    return [(struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8", "replace")) for code, data in options
            if code == 15 and len(data) >= 2]


def decode_rdata(msg, off, t, rdata):
    if t == 1 and len(rdata) == 4:
        return socket.inet_ntop(socket.AF_INET, rdata)
    if t == 28 and len(rdata) == 16:
        return socket.inet_ntop(socket.AF_INET6, rdata)
    if t in (2, 5, 12):
        return read_name(msg, off)[0].lower()
    if t == 15:
        return (struct.unpack("!H", rdata[:2])[0], read_name(msg, off + 2)[0].lower())
    if t == 6:
        mname, o = read_name(msg, off)
        rname, o = read_name(msg, o)
        return (mname.lower(), rname.lower()) + struct.unpack("!IIIII", msg[o:o + 20])
    if t == 16:
        strings, i = [], 0
        while i < len(rdata):
            n = rdata[i]
            strings.append(rdata[i + 1:i + 1 + n].decode("latin-1"))
            i += 1 + n
        return tuple(strings)
    return rdata


def send_udp(host, port, payload, timeout=2.0, source=None):
    """source: the local address to send from (another loopback address, e.g. 127.0.0.2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.sendto(payload, (host, port))
        return s.recvfrom(65535)[0]
    finally:
        s.close()


def send_tcp(host, port, payloads, timeout=2.0, framed=False, source=None):
    """Sends one or more messages on one connection; returns the list of answers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0) if source else None) \
        if family == socket.AF_INET else socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
    try:
        if isinstance(payloads, bytes):
            payloads = [payloads]
        data = b"".join(p if framed else struct.pack("!H", len(p)) + p for p in payloads)
        s.sendall(data)
        out = []
        for _ in payloads:
            head = recv_exact(s, 2)
            out.append(recv_exact(s, struct.unpack("!H", head)[0]))
        return out
    finally:
        s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def query(server, name, rtype="A", tcp=False, edns=None, flags=0x0100, timeout=2.0, cls=1, source=None):
    host, port = (server.host, server.port) if isinstance(server, Stsd) else server
    msg = build_query(name, rtype, flags=flags, edns=edns, cls=cls)
    raw = send_tcp(host, port, msg, timeout, source=source)[0] if tcp else \
        send_udp(host, port, msg, timeout, source=source)
    return parse_message(raw)


# --- running tests ----------------------------------------------------------------

def wait_for(condition, what, timeout=10):
    """Polls `condition` until it holds; fails naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TestFailure(f"timed out waiting for {what}")


class TestClock:
    """The clock stsd reads through STSD_CLOCK_OFFSET_FILE: whole seconds added to the
    real time, re-read by stsd every 100 ms. `set(t)` makes stsd's now `t`."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "clock-offset")
        self.offset = 0
        self._write()

    def _write(self):
        with open(self.path + ".tmp", "w") as f:
            f.write(str(self.offset))
        os.replace(self.path + ".tmp", self.path)

    def now(self):
        return time.time() + self.offset

    def set(self, t):
        self.offset = int(round(t - time.time()))
        self._write()
        time.sleep(0.3)  # stsd has read it

    @property
    def env(self):
        return {"STSD_CLOCK_OFFSET_FILE": self.path}


def run_tests(config, tests, **stsd_args):
    """Starts one stsd with `config` (None: each test starts its own) and runs each
    test function with it; prints 'N passed, N failed' and exits non-zero on failure."""
    passed = failed = 0
    server = Stsd(config, **stsd_args).start() if config is not None else None
    try:
        for test in tests:
            name = test.__name__
            started = time.time()
            try:
                test(server) if server is not None else test()
                passed += 1
                print(f"PASS {name} ({time.time() - started:.2f}s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
                if server is not None:
                    print("---- stsd log (last 60 lines) ----\n" + "\n".join(server.read_log().splitlines()[-60:]))
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    print(f"{passed} passed, {failed} failed")
    if not failed:
        for d in _OWN_DIRS:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if failed else 0)


def check_udp_burst(port, name_of, clients=16, per_client=40, host="127.0.0.1"):
    """Many datagrams from many clients in flight at once (a worker reads them in bursts):
    each is answered exactly once, to its own client, with its own id. `name_of(k, n)`: the
    name client k asks in its n-th query (an A query)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(clients)]
    try:
        for c in sockets:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for n in range(per_client):
            for k, c in enumerate(sockets):
                c.sendto(build_query(name_of(k, n), "A", qid=k * 1000 + n), (host, port))
        for k, c in enumerate(sockets):
            c.settimeout(3)
            seen = set()
            while len(seen) < per_client:
                m = parse_message(c.recvfrom(4096)[0])
                check(m.id // 1000 == k, f"client {k} got the answer to query {m.id}")
                check(m.id not in seen, f"query {m.id} answered twice")
                seen.add(m.id)
    finally:
        for c in sockets:
            c.close()
