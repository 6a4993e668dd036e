"""Real parts for the confirmer's end-to-end tests, all on loopback and all started here:

- TestCA: a CA and leaf certificates made at test time by the openssl command line
  (including expired ones, through `openssl ca -startdate/-enddate`);
- Nginx: the Debian nginx, run in the foreground from a temp prefix, as the policy host
  or as "CDN edges" (one instance per edge address, one server block per domain);
- Knot: the Debian knotd as the authoritative server the confirmer's resolver asks;
- helpers for stsctl (through the harness) and for reading the served id with kdig.
"""
import datetime
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from harness import TestClock, TestFailure, check, free_port, kdig  # noqa: F401 (TestClock: imported from here by other tests)


def policy_text(mode="enforce", mx=("mx1.example.test",), max_age=604800):
    """The canonical policy file (RFC 8461 §3.2), as stsd renders it."""
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx] + [f"max_age: {max_age}"]
    return "".join(line + "\r\n" for line in lines)


def wait_until(predicate, timeout, what, interval=0.25):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` passes."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TestFailure(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def _run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise TestFailure(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def _utc(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


class TestCA:
    """A test certificate authority in `directory`, made with the openssl CLI."""

    def __init__(self, directory, name="stsd test CA"):
        self.dir = os.path.join(directory, name.replace(" ", "_"))
        os.makedirs(self.dir, exist_ok=True)
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", self.key, "-out", self.cert, "-days", "30", "-subj", f"/CN={name}"])
        with open(os.path.join(self.dir, "ca.cnf"), "w") as f:
            f.write("[ ca ]\ndefault_ca = test\n[ test ]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\n"
                    "serial = serial\ndefault_md = sha256\npolicy = anything\ncopy_extensions = copy\n"
                    "unique_subject = no\n[ anything ]\ncommonName = supplied\n")
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        self.count = 0

    def issue(self, names, not_before=None, not_after=None):
        """A leaf certificate for DNS `names`; returns (cert_path, key_path). Dates are
        datetimes (UTC); by default valid from an hour ago for 30 days."""
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before = not_before or now - datetime.timedelta(hours=1)
        not_after = not_after or now + datetime.timedelta(days=30)
        self.count += 1
        base = os.path.join(self.dir, f"leaf{self.count}")
        san = ",".join(f"DNS:{n}" for n in names)
        _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", base + ".key", "-out", base + ".csr", "-subj", f"/CN={names[0]}",
              "-addext", f"subjectAltName={san}"])
        _run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", self.cert, "-keyfile", self.key,
              "-in", base + ".csr", "-out", base + ".pem", "-notext",
              "-startdate", _utc(not_before), "-enddate", _utc(not_after)], cwd=self.dir)
        return base + ".pem", base + ".key"


class Nginx:
    """nginx in the foreground with its own prefix; `site()` adds a server block whose
    document root holds /.well-known/mta-sts.txt for one domain."""

    def __init__(self, directory, name, listen_host, port=None):
        self.dir = os.path.join(directory, "nginx-" + name)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.host = listen_host
        self.port = port or free_port(listen_host)
        self.vantage = f"{listen_host}:{self.port}"
        self.servers = []
        self.proc = None

    def root_of(self, domain):
        return os.path.join(self.dir, "www", domain)

    def site(self, domain, cert, key, policy=None, extra="", files=None):
        """Serves https://mta-sts.<domain>/ here. `policy`: text of the policy file (None:
        no file, so 404); `extra`: more directives for the server block; `files`: other
        files {relative path: bytes}."""
        root = self.root_of(domain)
        os.makedirs(os.path.join(root, ".well-known"), exist_ok=True)
        if policy is not None:
            self.write_policy(domain, policy)
        for rel, data in (files or {}).items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        self.servers.append(
            f"  server {{\n    listen {self.host}:{self.port} ssl;\n    server_name mta-sts.{domain};\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    root {root};\n{extra}\n  }}\n")

    def write_policy(self, domain, text):
        """What this edge serves from now on (nginx reads the file on every request)."""
        path = os.path.join(self.root_of(domain), ".well-known", "mta-sts.txt")
        data = text.encode() if isinstance(text, str) else text
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)

    def start(self):
        logs = os.path.join(self.dir, "logs")
        temp = "".join(f"  {k}_temp_path {logs}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = (f"{user}worker_processes 1;\nerror_log {logs}/error.log info;\npid {logs}/nginx.pid;\n"
                f"events {{ worker_connections 256; }}\n"
                f"http {{\n  access_log off;\n{temp}  types {{ text/plain txt; }}\n"
                f"  default_type application/octet-stream;\n  sendfile off;\n"
                + "".join(self.servers) + "}\n")
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        _run(["nginx", "-t", "-p", self.dir, "-c", path, "-g", "daemon off;"])
        self.log = open(os.path.join(logs, "stdout.log"), "ab")
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", path, "-g", "daemon off;"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self._listening(), 10, f"nginx on {self.vantage}")
        return self

    def _listening(self):
        import socket
        if self.proc.poll() is not None:
            raise TestFailure(f"nginx exited: {open(os.path.join(self.dir, 'logs', 'error.log')).read()}")
        try:
            socket.create_connection((self.host, self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


class Knot:
    """knotd in the foreground, authoritative for the given zones {origin: text}."""

    def __init__(self, directory, zones, host="127.0.0.1"):
        self.dir = os.path.join(directory, "knot")
        os.makedirs(os.path.join(self.dir, "zones"), exist_ok=True)
        self.host = host
        self.port = free_port(host)
        self.zones = zones
        self.proc = None

    def start(self):
        for origin, text in self.zones.items():
            with open(os.path.join(self.dir, "zones", origin + ".zone"), "w") as f:
                f.write(text)
        zones = "".join(f"  - domain: {origin}\n" for origin in self.zones)
        conf = (f"server:\n    rundir: \"{self.dir}\"\n    listen: {self.host}@{self.port}\n"
                f"database:\n    storage: \"{self.dir}/db\"\n"
                f"template:\n  - id: default\n    storage: \"{self.dir}/zones\"\n    file: \"%s.zone\"\n"
                f"zone:\n{zones}log:\n  - target: stderr\n    any: info\n")
        path = os.path.join(self.dir, "knot.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.log = open(os.path.join(self.dir, "knot.log"), "ab")
        self.proc = subprocess.Popen(["knotd", "-c", path], stdout=self.log, stderr=subprocess.STDOUT)
        first = next(iter(self.zones))

        def answers():
            if self.proc.poll() is not None:
                raise TestFailure("knotd exited: " + open(os.path.join(self.dir, "knot.log")).read())
            try:
                return kdig((self.host, self.port), first, "SOA", timeout=1).rcode == "NOERROR"
            except TestFailure:
                return False
        wait_until(answers, 15, "knotd to answer")
        return self

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


def stsctl(stsd, *args, check_rc=True):
    """Runs stsctl against `stsd`'s admin socket ({dir}/stsd.sock in these configs)."""
    return stsd.run("stsctl", "--socket", os.path.join(stsd.dir, "stsd.sock"), *args, check_rc=check_rc)


def stsctl_json(stsd, *args, check_rc=True):
    """stsctl with --json; returns (process, parsed stdout or None)."""
    p = stsctl(stsd, *args, "--json", check_rc=check_rc)
    try:
        return p, json.loads(p.stdout)
    except ValueError:
        return p, None


def status_json(stsd, domain):
    return json.loads(stsctl(stsd, "status", domain, "--json", "--events", "50").stdout)


def confirm_section(status):
    """The confirmer's part of `stsctl status --json` (extensions.confirm)."""
    return (status.get("extensions") or {}).get("confirm") or {}


def confirm_lines(stsd, domain):
    """The confirmer's plain-word lines in `stsctl status --json`, joined."""
    return " | ".join(confirm_section(status_json(stsd, domain)).get("lines", []))


def confirmed_version(stsd, domain):
    confirmed = status_json(stsd, domain).get("confirmed")
    if isinstance(confirmed, dict):
        return confirmed.get("version") or confirmed.get("number")
    return confirmed


def served_id(stsd, domain):
    """The id in _mta-sts.<domain> TXT, asked over DNS (NS-delegation mode); None on NODATA."""
    r = kdig(stsd, f"_mta-sts.{domain}", "TXT")
    check(r.rcode == "NOERROR", r)
    texts = r.rdatas("TXT")
    if not texts:
        return None
    check(len(texts) == 1, r)
    record = texts[0].strip('"')
    check(record.startswith("v=STSv1; id="), record)
    return record[len("v=STSv1; id="):].rstrip(";")


def events(stsd, domain, limit=50):
    """The domain's event log, newest first: [{"kind", "version", "detail", ...}]."""
    return status_json(stsd, domain).get("events", [])


def metrics(port):
    """/metrics on 127.0.0.1:`port` as {sample name with labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$", line)
        if m:
            samples[m.group(1)] = float(m.group(2))
    return samples


# --- rotation schedule (the mtasts README's formula) ---------------------------------

def rotation_offset(domain, rotation):
    """The domain's offset inside the period: the first 4 bytes of SHA-256 of the lowercase
    name without trailing dot, as a big-endian number, modulo the rotation (seconds)."""
    digest = hashlib.sha256(domain.lower().rstrip(".").encode()).digest()
    return int.from_bytes(digest[:4], "big") % rotation


def next_boundary(domain, rotation, after):
    """The domain's first rotation boundary (k * rotation + offset) later than `after`."""
    offset = rotation_offset(domain, rotation)
    k = (int(after) - offset) // rotation + 1
    return k * rotation + offset


def period_label(boundary, rotation):
    """The date part of the id of the period that ENDS at `boundary` (its last second,
    UTC), for a rotation of whole days."""
    check(rotation % 86400 == 0, "period_label is for whole days")
    return time.strftime("%Y%m%d", time.gmtime(boundary - 1))


def utc_text(unix):
    """How stsd writes a time with seconds ("2026-12-02 05:12:07 UTC")."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))


class BlackHole:
    """A hung edge: listens on `host`:`port` and never accepts, so a fetch connects (the
    kernel completes the handshake) and then hears nothing until it times out."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(64)
        return self

    def stop(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_script(main):
    """Runs `main(parts)` with a Cleanup whose `work` is a fresh temp folder; removes the
    folders on success; on failure keeps them, prints the logs of every started stsd,
    nginx and knotd, and exits non-zero."""
    import shutil
    import tempfile
    import traceback
    parts = Cleanup()
    parts.work = tempfile.mkdtemp(prefix="stsd-confirm-")
    try:
        with parts:
            main(parts)
        for part in parts.parts:
            if hasattr(part, "read_log") and getattr(part, "_own_dir", False):
                shutil.rmtree(part.dir, ignore_errors=True)
        shutil.rmtree(parts.work, ignore_errors=True)
        print("1 passed, 0 failed")
    except Exception:
        traceback.print_exc()
        for part in parts.parts:
            text = ""
            if hasattr(part, "read_log"):
                text = part.read_log()
            elif isinstance(part, Nginx):
                text = open(os.path.join(part.dir, "logs", "error.log")).read()
            elif isinstance(part, Knot):
                text = open(os.path.join(part.dir, "knot.log")).read()
            print(f"---- log of {type(part).__name__} (last 80 lines) ----")
            print("\n".join(text.splitlines()[-80:]))
        print(f"(test files kept in {parts.work})")
        print("0 passed, 1 failed")
        sys.exit(1)


class Cleanup:
    """Stops started parts in reverse order, even when a test fails."""

    def __init__(self):
        self.parts = []

    def add(self, part):
        self.parts.append(part)
        return part

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception as e:  # keep stopping the others
                print(f"cleanup: {part}: {e}")
        return False
