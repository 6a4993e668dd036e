"""Helpers shared by the admin API / stsctl end-to-end tests: a config with the mtasts
plugin and the admin socket, stsctl runs, the id that DNS serves, and HTTP over a unix
socket both ways (a client of the real stsd, a stand-in server for stsctl)."""
import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import time

from harness import STSD_BIN, TestFailure, check, kdig

SERVICE_ZONE = "sts.provider.test."

# storage and the admin socket are relative to the config's folder (the test's temp
# folder, also stsctl's working directory), so plain `stsctl ...` finds var/stsd.sock.
CONFIG = """
storage: var/stsd.db
admin: { socket: var/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        service_zone: sts.provider.test.
        nameservers: [ns1.provider.test., ns2.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 300
        policy_host: { a: [192.0.2.10] }
"""


def stsctl(server, *args, rc=0, timeout=300, input=None):
    """Runs stsctl in the server's folder; checks the exit code unless rc is None."""
    p = server.run("stsctl", *args, check_rc=False, timeout=timeout, input=input)
    if rc is not None and p.returncode != rc:
        raise TestFailure(f"stsctl {' '.join(args)} exited {p.returncode}, expected {rc}\n"
                          f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def curl(server, method, path, body=None, content_type="application/json"):
    """A raw admin API request on the unix socket; returns (HTTP status, body text)."""
    cmd = ["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", os.path.join(server.dir, "var/stsd.sock"),
           "-X", method, "http://localhost" + path]
    if body is not None:
        cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
    p = subprocess.run(cmd, capture_output=True, input=body.encode() if body is not None else None, timeout=60)
    text, _, status = p.stdout.decode(errors="replace").rpartition("\n")
    return int(status), text


def stsctl_json(server, *args):
    p = stsctl(server, "--json", *args)
    return json.loads(p.stdout)


def served_txt(server, domain, tcp=False, mode="cname"):
    """The TXT strings at _mta-sts.<domain> as DNS serves them (both delegation modes)."""
    name = f"_mta-sts.{domain}." + (SERVICE_ZONE if mode == "cname" else "")
    answer = kdig(server, name, "TXT", tcp=tcp)
    check(answer.rcode == "NOERROR", answer)
    return [rr[4] for rr in answer.answer if rr[3] == "TXT"], answer


def served_id(server, domain, tcp=False, mode="cname"):
    """The id in the one TXT record, or None when there is no record (NODATA)."""
    records, answer = served_txt(server, domain, tcp=tcp, mode=mode)
    if not records:
        return None
    check(len(records) == 1, f"more than one TXT record: {answer}")
    text = records[0].strip('"')
    check(text.startswith("v=STSv1; id=") and text.endswith(";"), answer)
    return text[len("v=STSv1; id="):-1]


def rss_kib(pid, field="VmHWM"):
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise TestFailure(f"no {field} for pid {pid}")


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TestFailure(f"timed out waiting for {what}")


def stsctl_path():
    return os.path.join(STSD_BIN, "stsctl")


class UnixConnection(http.client.HTTPConnection):
    """An HTTP client connection to a unix socket (the admin API's)."""

    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class UnixHttpServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StandInHandler(http.server.BaseHTTPRequestHandler):
    """The base of a stand-in for stsd's admin API: HTTP/1.1 with kept-alive connections
    (as stsctl uses them), JSON answers, no access log."""
    protocol_version = "HTTP/1.1"

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
