"""The HTTPS policy host end to end: the real stsd with `policy_host:`, a test CA and
certificates made with openssl at test time, policies put in the store with stsctl, and
the real curl and `openssl s_client` as clients (senders fetch exactly like this,
RFC 8461 §3.3: SNI and Host mta-sts.<domain>, a certificate valid for that name)."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from harness import Stsd, check, free_port, run_tests

WORK = tempfile.mkdtemp(prefix="stsd-e2e-policyhost-")
PKI = os.path.join(WORK, "pki")
CERTS = os.path.join(WORK, "certs")
CA = os.path.join(PKI, "ca.crt")
HTTPS_PORT = free_port()
REQUEST_TIMEOUT = 3
IDLE_TIMEOUT = 2
MAX_CONNECTIONS = 4

CONFIG = """
storage: {dir}/var/stsd.db
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      log: {}
policy_host:
  listen: ["127.0.0.1:HTTPS_PORT"]
  cert_dir: certs
  cert_poll: 1s
  cache_max_age: 60
  max_header_bytes: 4096
  handshake_timeout: 3s
  request_timeout: REQUEST_TIMEOUTs
  idle_timeout: IDLE_TIMEOUTs
  max_connections: MAX_CONNECTIONS
  max_connections_per_client: MAX_CONNECTIONS
  requests_per_second: 50
  burst: 100
""".replace("HTTPS_PORT", str(HTTPS_PORT)).replace("REQUEST_TIMEOUT", str(REQUEST_TIMEOUT)) \
   .replace("IDLE_TIMEOUT", str(IDLE_TIMEOUT)).replace("MAX_CONNECTIONS", str(MAX_CONNECTIONS))

POLICY_PATH = "/.well-known/mta-sts.txt"
# The canonical form the store renders (plugins/mtasts): version first, CRLF, one space
# after each colon, mx lines in the order given.
ALPHA_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx1.alpha.test\r\nmx: *.mail.alpha.test\r\nmax_age: 604800\r\n"
BETA_POLICY = "version: STSv1\r\nmode: testing\r\nmx: mx.beta.test\r\nmax_age: 86400\r\n"
GAMMA_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.gamma.test\r\nmax_age: 604800\r\n"


# --- test PKI (openssl CLI) ---------------------------------------------------------

def openssl(*args):
    p = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {p.stderr}")
    return p


def make_ca():
    os.makedirs(PKI, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", os.path.join(PKI, "ca.key"), "-out", CA, "-days", "2", "-subj", "/CN=stsd e2e test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def issue(name, dns_names):
    """Returns (certificate+chain PEM path, key PEM path) for a leaf with these SANs."""
    key = os.path.join(PKI, name + ".key")
    csr = os.path.join(PKI, name + ".csr")
    crt = os.path.join(PKI, name + ".crt")
    ext = os.path.join(PKI, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n")
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in dns_names) + "\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=" + dns_names[0])
    openssl("x509", "-req", "-in", csr, "-CA", CA, "-CAkey", os.path.join(PKI, "ca.key"), "-CAcreateserial",
            "-days", "2", "-out", crt, "-extfile", ext)
    with open(crt) as f, open(CA) as c:
        chain = f.read() + c.read()
    with open(crt, "w") as f:
        f.write(chain)
    return crt, key


def install_pem(name, dns_names):
    crt, key = issue(name, dns_names)
    with open(crt) as c, open(key) as k, open(os.path.join(CERTS, name + ".pem.tmp"), "w") as out:
        out.write(c.read() + k.read())
    # Written elsewhere, then renamed in: the poller never sees half a file.
    os.rename(os.path.join(CERTS, name + ".pem.tmp"), os.path.join(CERTS, name + ".pem"))


def install_crt_and_key(name, dns_names):
    crt, key = issue(name, dns_names)
    shutil.copy(key, os.path.join(CERTS, name + ".key"))
    shutil.copy(crt, os.path.join(CERTS, name + ".crt"))


# --- clients --------------------------------------------------------------------------

class Reply:
    def __init__(self, rc, status, headers, body, stderr):
        self.rc, self.status, self.headers, self.body, self.stderr = rc, status, headers, body, stderr

    def __repr__(self):
        return f"<Reply rc={self.rc} status={self.status} headers={self.headers} body={self.body!r} err={self.stderr!r}>"


def curl(host, path=POLICY_PATH, args=(), head=False):
    """curl as a sender uses it: name resolved to our loopback address, our test CA."""
    out = tempfile.mkdtemp(dir=WORK)
    headers_file, body_file = os.path.join(out, "headers"), os.path.join(out, "body")
    cmd = ["curl", "-sS", "--max-time", "10", "--resolve", f"{host}:{HTTPS_PORT}:127.0.0.1", "--cacert", CA,
           "-D", headers_file, "-o", body_file, "-w", "%{http_code}"]
    if head:
        cmd.append("-I")   # curl writes the header into the output file then; no body is read
    cmd += list(args) + [f"https://{host}:{HTTPS_PORT}{path}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    headers = {}
    if os.path.exists(headers_file):
        with open(headers_file, "rb") as f:
            for line in f.read().decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
    body = b""
    if os.path.exists(body_file):
        with open(body_file, "rb") as f:
            body = f.read()
    shutil.rmtree(out)
    status = int(p.stdout) if p.stdout.strip().isdigit() else 0
    reply = Reply(p.returncode, status, headers, body, p.stderr)
    # RFC 8461 §3.3: senders never follow redirects; we never send one.
    check(status not in (301, 302, 303, 307, 308) and "location" not in headers, reply)
    return reply


def s_client(server_name, *extra):
    args = ["s_client", "-connect", f"127.0.0.1:{HTTPS_PORT}", "-CAfile", CA, "-verify_return_error", "-brief"]
    if server_name:
        args += ["-servername", server_name, "-verify_hostname", server_name]
    p = subprocess.run(["openssl", *args, *extra], input="", capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def tls_connection(server_name="mta-sts.alpha.test", timeout=5):
    context = ssl.create_default_context(cafile=CA)
    raw = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname=server_name)
    except Exception:
        raw.close()
        raise


def peer_closed(conn, wait):
    """True when the server ends the connection within `wait` seconds."""
    conn.settimeout(wait)
    try:
        return conn.recv(1) == b""
    except (socket.timeout, TimeoutError):
        return False
    except (ssl.SSLError, OSError):
        return True


def stsctl(stsd, *args):
    return stsd.run("stsctl", "--socket", os.path.join(stsd.dir, "var", "stsd.sock"), *args)


# --- tests ----------------------------------------------------------------------------

def test_put_policies_in_the_store(stsd):
    """The operator's path: stsctl through the admin API, while stsd runs."""
    for domain in ("alpha.test", "beta.test", "gamma.test", "nocert.test", "empty.test"):
        stsctl(stsd, "domain", "add", domain)
    stsctl(stsd, "policy", "stage", "alpha.test", "--mode", "enforce", "--mx", "mx1.alpha.test",
           "--mx", "*.mail.alpha.test", "--max-age", "604800")
    stsctl(stsd, "policy", "stage", "beta.test", "--mode", "testing", "--mx", "mx.beta.test", "--max-age", "86400")
    stsctl(stsd, "policy", "stage", "gamma.test", "--mode", "enforce", "--mx", "mx.gamma.test", "--max-age", "604800")
    stsctl(stsd, "policy", "stage", "nocert.test", "--mode", "testing", "--mx", "mx.nocert.test",
           "--max-age", "86400")


def test_sni_selects_each_domains_certificate(stsd):
    for host, policy in (("mta-sts.alpha.test", ALPHA_POLICY), ("mta-sts.beta.test", BETA_POLICY)):
        rc, out = s_client(host)
        check(rc == 0 and "Verification: OK" in out and f"CN = {host}" in out, out)
        r = curl(host)
        check(r.rc == 0 and r.status == 200 and r.body == policy.encode(), r)


def test_only_tls12_and_tls13(stsd):
    for version in ("-tls1_2", "-tls1_3"):
        rc, out = s_client("mta-sts.alpha.test", version)
        check(rc == 0 and "Verification: OK" in out, (version, out))
    rc, out = s_client("mta-sts.alpha.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    check(rc != 0, out)


def test_policy_body_and_headers(stsd):
    r = curl("mta-sts.alpha.test")
    check(r.status == 200, r)
    check(r.body == ALPHA_POLICY.encode(), r)
    check(r.headers.get("content-type") == "text/plain; charset=utf-8", r)
    check(r.headers.get("cache-control") == "max-age=60", r)
    check(r.headers.get("content-length") == str(len(ALPHA_POLICY)), r)
    etag = r.headers.get("etag", "")
    check(etag.startswith('"') and etag.endswith('"') and len(etag) > 2, r)
    # Same content, same tag; If-None-Match (which senders never send) gets a 304.
    again = curl("mta-sts.alpha.test", args=["-H", f"If-None-Match: {etag}"])
    check(again.status == 304 and again.body == b"", again)


def test_head(stsd):
    r = curl("mta-sts.beta.test", head=True)
    check(r.rc == 0 and r.status == 200, r)
    check(r.headers.get("content-length") == str(len(BETA_POLICY)), r)
    check(r.headers.get("content-type") == "text/plain; charset=utf-8", r)
    # On the wire: the header and nothing after it, although Content-Length is not 0.
    conn = tls_connection("mta-sts.beta.test")
    conn.sendall(b"HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.beta.test\r\n\r\n")
    conn.settimeout(1)
    data = b""
    try:
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        pass
    conn.close()
    check(data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n"), data)


def test_not_found(stsd):
    r = curl("mta-sts.alpha.test", path="/")
    check(r.status == 404, r)
    r = curl("mta-sts.alpha.test", path="/.well-known/mta-sts.txt.bak")
    check(r.status == 404, r)
    r = curl("mta-sts.wild.test")          # a certificate (wildcard) but no such domain in the store
    check(r.rc == 0 and r.status == 404, r)
    r = curl("mta-sts.empty.test")         # in the store, nothing staged yet
    check(r.rc == 0 and r.status == 404, r)
    r = curl("mta-sts.alpha.test", args=["-H", "Host: mta-sts.beta.test"])   # Host is not the SNI name
    check(r.status == 421, r)


def test_other_methods(stsd):
    for args in (["-X", "POST", "--data", "x=1"], ["-X", "DELETE"], ["-X", "PUT", "--data", "x"], ["-X", "OPTIONS"]):
        r = curl("mta-sts.alpha.test", args=args)
        check(r.status == 405 and r.headers.get("allow") == "GET, HEAD", (args, r))


def test_oversized_headers(stsd):
    r = curl("mta-sts.alpha.test", args=["-H", "X-Padding: " + "x" * 6000])
    check(r.status == 431, r)
    check(curl("mta-sts.alpha.test").status == 200, "still serving")


def test_handshake_fails_without_certificate(stsd):
    r = curl("mta-sts.nocert.test")
    check(r.rc == 35 and r.status == 0, r)   # CURLE_SSL_CONNECT_ERROR: no certificate, no HTTP
    rc, out = s_client("mta-sts.nocert.test")
    check(rc != 0 and "unrecognized name" in out, out)
    rc, out = s_client(None)                 # no SNI at all
    check(rc != 0, out)
    check("no certificate for mta-sts.nocert.test" in stsd.read_log(), "the failure is logged")
    # ... and reported where the operator looks.
    status = stsctl(stsd, "status", "nocert.test").stdout
    check("no certificate for mta-sts.nocert.test in cert_dir" in status, status)
    status = stsctl(stsd, "status", "alpha.test").stdout
    check("certificate for mta-sts.alpha.test from" in status and "valid for" in status, status)


def test_newest_staged_version_is_served_at_once(stsd):
    """A new version is served at once, before any confirmation (the confirmer fetches
    it through this same path)."""
    stsctl(stsd, "policy", "stage", "beta.test", "--mode", "enforce", "--mx", "mx.beta.test",
           "--mx", "mx2.beta.test", "--max-age", "604800")
    r = curl("mta-sts.beta.test")
    expected = "version: STSv1\r\nmode: enforce\r\nmx: mx.beta.test\r\nmx: mx2.beta.test\r\nmax_age: 604800\r\n"
    check(r.status == 200 and r.body == expected.encode(), r)


def test_certificate_reload_without_restart(stsd):
    check(curl("mta-sts.gamma.test").rc == 35, "no certificate for gamma yet")
    with open(os.path.join(CERTS, "broken.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    install_crt_and_key("gamma", ["mta-sts.gamma.test"])
    deadline = time.time() + 15
    r = None
    while time.time() < deadline:
        r = curl("mta-sts.gamma.test")
        if r.rc == 0:
            break
        time.sleep(0.3)
    check(r.rc == 0 and r.status == 200 and r.body == GAMMA_POLICY.encode(), r)
    log = stsd.read_log()
    check("skipped" in log and "broken.pem" in log, "the bad file is reported")
    check(any("senders cannot fetch" in line and "mta-sts.nocert.test" in line for line in log.splitlines()),
          "domains of the store without a certificate are reported after a load")
    check(curl("mta-sts.alpha.test").status == 200, "a bad file does not disturb the others")
    os.remove(os.path.join(CERTS, "broken.pem"))


def test_slow_header_is_cut_while_others_are_served(stsd):
    slow = tls_connection()
    began = time.time()
    slow.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.alpha.test\r\n")
    served_meanwhile = False
    closed = False
    while time.time() - began < REQUEST_TIMEOUT + 5:
        try:
            slow.sendall(b"X")    # one header byte at a time, never finishing
        except OSError:
            closed = True
            break
        if not served_meanwhile and time.time() - began > 0.5:
            r = curl("mta-sts.beta.test")
            check(r.status == 200, ("another client must be served while the slow one waits", r))
            served_meanwhile = True
        if peer_closed(slow, 0.3):
            closed = True
            break
    elapsed = time.time() - began
    slow.close()
    check(served_meanwhile, "the other client was not tried")
    check(closed, f"the slow client was still connected after {elapsed:.1f}s")
    check(REQUEST_TIMEOUT - 0.5 <= elapsed <= REQUEST_TIMEOUT + 3, f"cut after {elapsed:.1f}s")


def test_keep_alive_idle_timeout(stsd):
    conn = tls_connection()
    conn.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.alpha.test\r\n\r\n")
    conn.settimeout(5)
    data = b""
    while ALPHA_POLICY.encode() not in data:
        chunk = conn.recv(4096)
        check(chunk, "closed before the reply")
        data += chunk
    check(data.startswith(b"HTTP/1.1 200"), data)
    began = time.time()
    closed = peer_closed(conn, IDLE_TIMEOUT + 3)
    conn.close()
    check(closed and time.time() - began >= IDLE_TIMEOUT - 0.5, "an idle kept-alive connection is closed")


def test_connection_cap(stsd):
    time.sleep(0.5)   # connections of earlier tests have closed
    open_connections = []
    request = b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.alpha.test\r\n\r\n"
    try:
        for _ in range(MAX_CONNECTIONS):  # each served once and kept alive: every slot taken
            c = tls_connection()
            c.sendall(request)
            c.settimeout(3)
            check(c.recv(12).startswith(b"HTTP/1.1 200"), "a connection within the cap is served")
            open_connections.append(c)
        extra = tls_connection()
        extra.sendall(request)
        extra.settimeout(3)
        answer = b""
        try:
            while True:
                chunk = extra.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (ssl.SSLError, OSError):
            pass
        extra.close()
        check(answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1\r\n" in answer,
              f"a request beyond max_connections ({MAX_CONNECTIONS}) gets 503 and a close: {answer!r}")
        open_connections.pop().close()
        admitted = False
        deadline = time.time() + 5
        while time.time() < deadline and not admitted:
            try:
                c = tls_connection()
                c.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.alpha.test\r\n\r\n")
                c.settimeout(3)
                admitted = c.recv(12).startswith(b"HTTP/1.1 200")
                c.close()
            except (ssl.SSLError, OSError):
                time.sleep(0.2)
        check(admitted, "a freed slot is available again")
    finally:
        for c in open_connections:
            c.close()


def test_access_log(stsd):
    log = stsd.read_log()
    check("policyhost: 127.0.0.1:" in log, "client address")
    check("GET host=mta-sts.alpha.test path=/.well-known/mta-sts.txt status=200 bytes=%d" % len(ALPHA_POLICY) in log,
          "an access line per request")
    check("status=405" in log and "status=431" in log, "errors are logged too")


if __name__ == "__main__":
    os.makedirs(CERTS)
    make_ca()
    install_pem("alpha", ["mta-sts.alpha.test"])
    install_crt_and_key("beta", ["mta-sts.beta.test"])
    install_pem("wild", ["*.wild.test", "mta-sts.empty.test"])
    try:
        run_tests(CONFIG, [
            test_put_policies_in_the_store,
            test_sni_selects_each_domains_certificate,
            test_only_tls12_and_tls13,
            test_policy_body_and_headers,
            test_head,
            test_not_found,
            test_other_methods,
            test_oversized_headers,
            test_handshake_fails_without_certificate,
            test_newest_staged_version_is_served_at_once,
            test_certificate_reload_without_restart,
            test_slow_header_is_cut_while_others_are_served,
            test_keep_alive_idle_timeout,
            test_connection_cap,
            test_access_log,
        ], workdir=WORK)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
