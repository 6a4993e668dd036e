"""Hostile HTTP clients against every HTTP listener of the real stsd (issue 12 cases 3, 4,
14 and 15): the admin API on its unix socket and its TCP port, the policy host (TLS) and
the metrics endpoint.

- 16 request-smuggling variants (RFC 9112 §6: a Transfer-Encoding we do not decode, TE
  with Content-Length, a body on GET/HEAD, ...) each followed by a second request: every
  listener answers 400 and closes, and never answers the second request;
- 70 idle TCP connections without a token, renewed as the server closes them, lock out
  neither stsctl on the unix socket nor a TCP client with the token;
- past the admin API's connection cap a client gets a 503, not a reset;
- handshake-less TLS connections from 250 loopback addresses (127.0.0.x), renewed as the
  server closes them, while a sender's fetches keep succeeding.

Every load loop is bounded in count and in time."""
import multiprocessing
import os
import re
import resource
import selectors
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from harness import Stsd, check, free_port, run_tests

ADMIN_PORT = free_port()
METRICS_PORT = free_port()
HTTPS_PORT = free_port()
TOKEN = "e2e-abuse-token-0123456789abcdef"
DOMAIN = "alpha.test"
POLICY_HOST = "mta-sts." + DOMAIN
ADMIN_CAP = 64  # plugins/admin/README.md: connections on the socket, and apart on TCP

CONFIG = f"""
storage: var/stsd.db
admin:
  socket: var/stsd.sock
  listen: "127.0.0.1:{ADMIN_PORT}"
  token_file: admin.token
servers:
  - listen: ["127.0.0.1:{{port}}"]
    plugins:
      metrics: {{}}
metrics:
  listen: 127.0.0.1:{METRICS_PORT}
policy_host:
  listen: ["127.0.0.1:{HTTPS_PORT}"]
  cert_dir: certs
  cert_poll: 1s
  requests_per_second: 0
  access_log: false
"""

STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3}) ", re.M)


def prepare(server):
    """The token, a self-signed certificate for the policy host, then the server."""
    with open(os.path.join(server.dir, "admin.token"), "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(os.path.join(server.dir, "admin.token"), 0o600)
    certs = os.path.join(server.dir, "certs")
    os.makedirs(certs)
    key, crt = os.path.join(server.dir, "host.key"), os.path.join(server.dir, "host.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + POLICY_HOST,
                    "-addext", "subjectAltName=DNS:" + POLICY_HOST], check=True, capture_output=True, timeout=60)
    with open(crt) as c, open(key) as k, open(os.path.join(certs, DOMAIN + ".pem"), "w") as out:
        out.write(c.read() + k.read())
    server.certificate = crt


def stsctl(server, *args, over="socket", check_rc=True):
    where = (["--socket", "var/stsd.sock"] if over == "socket" else
             ["--connect", f"127.0.0.1:{ADMIN_PORT}", "--token-file", "admin.token"])
    return server.run("stsctl", *where, *args, check_rc=check_rc, timeout=30)


def tls_context(server):
    return ssl.create_default_context(cafile=server.certificate)


# --- the listeners, each a way to open a connection and what a request to it needs -------

class Listener:
    def __init__(self, name, connect, path, host, fields=""):
        self.name, self.connect, self.path, self.host, self.fields = name, connect, path, host, fields


def listeners(server):
    def unix():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(os.path.join(server.dir, "var/stsd.sock"))
        return s

    def tcp(port):
        return lambda: socket.create_connection(("127.0.0.1", port), timeout=3)

    def tls():
        raw = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=3)
        return tls_context(server).wrap_socket(raw, server_hostname=POLICY_HOST)

    return [
        Listener("admin unix socket", unix, "/v1/server", "localhost"),
        Listener("admin TCP", tcp(ADMIN_PORT), "/v1/server", "localhost", f"Authorization: Bearer {TOKEN}\r\n"),
        Listener("policy host", tls, "/.well-known/mta-sts.txt", POLICY_HOST),
        Listener("metrics", tcp(METRICS_PORT), "/metrics", "localhost"),
    ]


def smuggling_variants(listener):
    """(name, bytes): an ambiguous request followed by a second request a server that
    misreads the framing answers too."""
    second = f"GET {listener.path} HTTP/1.1\r\nHost: {listener.host}\r\n{listener.fields}\r\n".encode()
    length = str(len(second))
    end = b"0\r\n\r\n"

    def request(line, fields, body):
        return (f"{line.replace('PATH', listener.path)}\r\nHost: {listener.host}\r\n{listener.fields}{fields}\r\n"
                .encode() + body)

    return [
        ("GET TE xchunked", request("GET PATH HTTP/1.1", "Transfer-Encoding: xchunked\r\n", second)),
        ("GET TE identity", request("GET PATH HTTP/1.1", "Transfer-Encoding: identity\r\n", second)),
        ("GET TE gzip", request("GET PATH HTTP/1.1", "Transfer-Encoding: gzip\r\n", second)),
        ("GET TE empty", request("GET PATH HTTP/1.1", "Transfer-Encoding:\r\n", second)),
        ("GET TE chunked", request("GET PATH HTTP/1.1", "Transfer-Encoding: chunked\r\n", end + second)),
        ("GET with Content-Length", request("GET PATH HTTP/1.1", "Content-Length: 5\r\n", b"hello" + second)),
        ("HEAD TE identity", request("HEAD PATH HTTP/1.1", "Transfer-Encoding: identity\r\n", second)),
        ("HEAD with Content-Length", request("HEAD PATH HTTP/1.1", "Content-Length: 5\r\n", b"hello" + second)),
        ("TE xchunked + CL", request("POST PATH HTTP/1.1", f"Transfer-Encoding: xchunked\r\nContent-Length: {length}\r\n",
                                     second)),
        ("TE chunked + CL", request("POST PATH HTTP/1.1", f"Transfer-Encoding: chunked\r\nContent-Length: {length}\r\n",
                                    end + second)),
        ("TE gzip, chunked", request("POST PATH HTTP/1.1", "Transfer-Encoding: gzip, chunked\r\n", end + second)),
        ("TE chunked, gzip", request("POST PATH HTTP/1.1", "Transfer-Encoding: chunked, gzip\r\n", second)),
        ("TE chunked twice", request("POST PATH HTTP/1.1", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                     end + second)),
        ("CL twice", request("POST PATH HTTP/1.1", "Content-Length: 5\r\nContent-Length: 5\r\n", b"hello" + second)),
        ("CL list", request("POST PATH HTTP/1.1", "Content-Length: 5, 5\r\n", b"hello" + second)),
        ("HTTP/1.0 TE chunked", request("POST PATH HTTP/1.0", "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n",
                                        end + second)),
    ]


def read_until_closed(s, seconds=3):
    """(bytes, closed): everything until the server closed, or until `seconds` passed."""
    data = b""
    deadline = time.monotonic() + seconds
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def test_every_listener_refuses_smuggling_with_400_and_a_close(server):
    problems = []
    variants = 0
    for listener in listeners(server):
        for name, payload in smuggling_variants(listener):
            variants += 1
            s = listener.connect()
            try:
                s.sendall(payload)
                data, closed = read_until_closed(s)
            finally:
                s.close()
            statuses = [int(code) for code in STATUS_LINE.findall(data)]
            if statuses != [400] or not closed:
                problems.append(f"{listener.name}: {name}: statuses {statuses}, "
                                f"{'closed' if closed else 'left open'}: {data[:160]!r}")
    check(variants == 4 * 16, variants)
    check(not problems, f"{len(problems)} of {variants} not refused:\n" + "\n".join(problems))
    # Nothing stopped serving.
    check("stsd" in stsctl(server, "version").stdout)


# --- the admin lockout ----------------------------------------------------------------------

def hold_idle_connections(address, count, seconds, stop, stats):
    """Keeps `count` connections that send nothing open to `address` for `seconds`,
    opening a new one for each the server closes (2,000 opens at most)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    selector = selectors.DefaultSelector()
    opens = 0

    def open_one():
        nonlocal opens
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(address)
        except OSError:
            s.close()
            return
        opens += 1
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)

    for _ in range(count):
        open_one()
    stats["opened"] = opens
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop.is_set():
        for key, _ in selector.select(timeout=0.1):
            selector.unregister(key.fileobj)
            key.fileobj.close()
            stats["closed_by_server"] = stats.get("closed_by_server", 0) + 1
            if opens < 2000:
                open_one()
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    stats["opened"] = opens


def test_idle_tcp_connections_lock_out_neither_the_socket_nor_token_holders(server):
    stop, stats = threading.Event(), {}
    attacker = threading.Thread(target=hold_idle_connections,
                                args=(("127.0.0.1", ADMIN_PORT), 70, 20, stop, stats), daemon=True)
    attacker.start()
    try:
        time.sleep(1)  # all 70 connected, and more than 64 were ever open at once
        for _ in range(3):
            p = stsctl(server, "version", check_rc=False)
            check(p.returncode == 0, f"stsctl over the unix socket: {p.stderr}")
            p = stsctl(server, "version", over="tcp", check_rc=False)
            check(p.returncode == 0, f"stsctl over TCP with the token: {p.stderr}")
            time.sleep(1)
    finally:
        stop.set()
        attacker.join(30)
    check(stats.get("opened", 0) >= 70, stats)


# --- 503 over the cap ----------------------------------------------------------------------

def test_past_the_admin_cap_a_client_gets_503_not_a_reset(server):
    socket_path = os.path.join(server.dir, "var/stsd.sock")
    time.sleep(0.5)  # the previous test's connections are gone
    held = []
    try:
        for _ in range(ADMIN_CAP):  # idle local connections: the unix socket's slots
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(socket_path)
            held.append(s)
        for _ in range(ADMIN_CAP):  # kept-alive TCP connections with the token: the TCP slots
            s = socket.create_connection(("127.0.0.1", ADMIN_PORT), timeout=3)
            s.sendall(f"GET /v1/server HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
            answer = s.recv(65536)
            check(answer.startswith(b"HTTP/1.1 200"), answer[:200])
            held.append(s)
        time.sleep(0.3)
        for name, connect, fields in (
                ("unix socket", lambda: socket_connect_unix(socket_path), ""),
                ("TCP", lambda: socket.create_connection(("127.0.0.1", ADMIN_PORT), timeout=3),
                 f"Authorization: Bearer {TOKEN}\r\n")):
            s = connect()
            try:
                try:
                    s.sendall(f"GET /v1/server HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused before the request was sent: the 503 is still there to read
                data, closed = read_until_closed(s)
            finally:
                s.close()
            check(data.startswith(b"HTTP/1.1 503"), f"{name}: {data[:300]!r}")
            check(b"Retry-After: 1\r\n" in data and b"too many admin connections" in data, f"{name}: {data!r}")
            check(closed, f"{name}: the connection stayed open after the 503")
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    stsctl(server, "version")
    stsctl(server, "version", over="tcp")


def socket_connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(path)
    return s


# --- the handshake-less flood at the policy host -----------------------------------------

FLOOD_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 252)]  # 250 source addresses
FLOOD_PER_ADDRESS = 5  # 1,250 connections: more than max_connections (1024) ever was
FLOOD_SECONDS = 12
FLOOD_MAX_OPENS = 30000
FLOOD_OPENS_PER_SECOND = 2500


def flood(port, ready, result):
    """Opens FLOOD_PER_ADDRESS connections from each address that never start a TLS
    handshake, and opens a new one for each the server closes, at most
    FLOOD_OPENS_PER_SECOND, FLOOD_MAX_OPENS in all, for FLOOD_SECONDS."""
    selector = selectors.DefaultSelector()
    opens = closed = 0
    waiting = []  # addresses whose connection the server closed

    def open_from(address):
        nonlocal opens
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((address, 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            waiting.append(address)
            return
        opens += 1
        selector.register(s, selectors.EVENT_READ, address)

    for address in FLOOD_ADDRESSES:
        for _ in range(FLOOD_PER_ADDRESS):
            open_from(address)
    ready.set()
    started = time.monotonic()
    while time.monotonic() - started < FLOOD_SECONDS and opens < FLOOD_MAX_OPENS:
        for key, _ in selector.select(timeout=0.05):
            selector.unregister(key.fileobj)
            key.fileobj.close()  # the server closed it (it never sends a byte before a handshake)
            closed += 1
            waiting.append(key.data)
        allowed = int((time.monotonic() - started) * FLOOD_OPENS_PER_SECOND) + len(FLOOD_ADDRESSES) * FLOOD_PER_ADDRESS
        while waiting and opens < min(allowed, FLOOD_MAX_OPENS):
            open_from(waiting.pop(0))
    result.put({"opens": opens, "closed_by_server": closed, "open_at_end": len(selector.get_map())})
    for key in list(selector.get_map().values()):
        key.fileobj.close()


def fetch_policy(server):
    """One sender fetch, as RFC 8461 §3.3 has it: a new TLS connection with SNI, GET."""
    try:
        raw = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5)
        with tls_context(server).wrap_socket(raw, server_hostname=POLICY_HOST) as s:
            s.sendall(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {POLICY_HOST}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data, _ = read_until_closed(s, seconds=5)
        return data.startswith(b"HTTP/1.1 200") and b"mx: mx.alpha.test" in data, data[:80]
    except OSError as error:
        return False, repr(error)


def test_a_handshakeless_flood_from_250_addresses_leaves_senders_served(server):
    check(fetch_policy(server)[0], fetch_policy(server))
    ready, result = multiprocessing.Event(), multiprocessing.Queue()
    attacker = multiprocessing.Process(target=flood, args=(HTTPS_PORT, ready, result), daemon=True)
    attacker.start()
    try:
        check(ready.wait(30), "the flood never started")
        time.sleep(1)
        outcomes = []
        deadline = time.monotonic() + FLOOD_SECONDS - 3
        while time.monotonic() < deadline and len(outcomes) < 200:
            outcomes.append(fetch_policy(server))
            time.sleep(0.1)
        stats = result.get(timeout=FLOOD_SECONDS + 30)
    finally:
        attacker.join(30)
        if attacker.is_alive():
            attacker.kill()
    failed = [detail for ok, detail in outcomes if not ok]
    print(f"flood: {stats}; sender: {len(outcomes) - len(failed)}/{len(outcomes)} fetches served")
    check(stats["opens"] >= len(FLOOD_ADDRESSES) * FLOOD_PER_ADDRESS, stats)
    check(len(outcomes) >= 10, f"only {len(outcomes)} fetches in the flood")
    check(not failed, f"{len(failed)}/{len(outcomes)} fetches failed during the flood: {failed[:5]}")
    check(fetch_policy(server)[0], "a fetch after the flood")


def named(test, server):
    def run():
        test(server)
    run.__name__ = test.__name__
    return run


def main():
    # 1,250 flood sockets here, and as many in stsd before a fix: raise the soft limit
    # (stsd inherits it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    workdir = tempfile.mkdtemp(prefix="stsd-e2e-http-abuse-")
    server = Stsd(CONFIG, workdir=workdir)
    prepare(server)
    tests = [
        test_every_listener_refuses_smuggling_with_400_and_a_close,
        test_idle_tcp_connections_lock_out_neither_the_socket_nor_token_holders,
        test_past_the_admin_cap_a_client_gets_503_not_a_reset,
        test_a_handshakeless_flood_from_250_addresses_leaves_senders_served,
    ]
    passed = False
    try:
        with server:
            stsctl(server, "domain", "add", DOMAIN)
            stsctl(server, "policy", "stage", DOMAIN, "--mode", "enforce", "--mx", "mx.alpha.test",
                   "--max-age", "604800")
            try:
                run_tests(None, [named(test, server) for test in tests])
            except SystemExit as done:
                passed = done.code == 0
                if not passed:
                    print("---- stsd log (last 60 lines) ----\n" + "\n".join(server.read_log().splitlines()[-60:]))
                raise
    finally:
        if passed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (config, log, store)")


if __name__ == "__main__":
    main()
