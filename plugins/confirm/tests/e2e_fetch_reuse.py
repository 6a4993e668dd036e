"""The confirmer's fetcher against real policy hosts: conditional requests and kept-alive
connections, with stsd's own policy host and with nginx (a CDN edge).

- stsd's policy host: a 200 gives an ETag; If-None-Match with it gets a 304 that the
  fetcher reports as not modified, over the same connection; a newly staged version is
  a 200 with a new ETag.
- nginx: the same with its own ETags; connections are counted on nginx's side (its
  stub_status): two domains on one edge take two connections however many fetches, one
  per host; after nginx closes its idle connections (a reload), the next fetch opens a
  new one without any failure.

The client is stsd_confirm_fetch (tests/fetch_driver.cpp): the fetcher itself, one
fetch per line, on one event loop as in the confirmer.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import STSD_BIN, Stsd, TestFailure, check, free_port  # noqa: E402
from confirm_env import Nginx, TestCA, log, policy_text, run_script, stsctl  # noqa: E402

EDGE = "127.0.0.52"

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
policy_host:
  listen: ["127.0.0.1:HTTPS_PORT"]
  cert_dir: CERT_DIR
"""


class Fetcher:
    """stsd_confirm_fetch, kept running: its idle connections live from one fetch to the next."""

    def __init__(self, ca_file):
        self.proc = subprocess.Popen([os.path.join(STSD_BIN, "stsd_confirm_fetch"), ca_file], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def fetch(self, vantage, domain, etag=""):
        self.proc.stdin.write(f"{vantage} {domain} {etag}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise TestFailure(f"stsd_confirm_fetch exited ({self.proc.poll()})")
        result = json.loads(line)
        log(f"fetch {domain} from {vantage} (If-None-Match {etag or '-'}): {result['error']} {result['status']} "
            f"etag {result['etag'] or '-'} not_modified={result['not_modified']} reused={result['reused']} "
            f"{result['message']}")
        return result

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)


class ConnectionCount:
    """The connections nginx accepted (stub_status) since this count was made, less the
    ones its own questions took."""

    def __init__(self, edge, ca_file, host):
        self.edge, self.ca_file, self.host = edge, ca_file, host
        self.questions = 0
        self.before = 0
        self.before = self()

    def __call__(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        with socket.create_connection((self.edge.host, self.edge.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=self.host) as tls:
                tls.sendall(f"GET /nginx_status HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n".encode())
                answer = b""
                while chunk := tls.recv(4096):
                    answer += chunk
        self.questions += 1
        lines = [line.strip() for line in answer.decode().split("\r\n\r\n", 1)[1].splitlines()]
        accepts = int(lines[lines.index("server accepts handled requests") + 1].split()[0])
        return accepts - self.questions - self.before


def check_ok(result, body=None, not_modified=False, reused=None):
    check(result["error"] == "ok", result)
    check(result["not_modified"] == not_modified, result)
    if body is not None:
        check(result["body"] == body, result)
    if reused is not None:
        check(result["reused"] == reused, result)


def against_stsd_policy_host(parts, ca, fetcher):
    https_port = free_port()
    certs = os.path.join(parts.work, "certs")
    os.makedirs(certs)
    cert, key = ca.issue(["mta-sts.hosted.test"])
    shutil.copy(cert, os.path.join(certs, "hosted.crt"))
    shutil.copy(key, os.path.join(certs, "hosted.key"))
    stsd = parts.add(Stsd(CONFIG.replace("HTTPS_PORT", str(https_port)).replace("CERT_DIR", certs)).start())
    vantage = f"127.0.0.1:{https_port}"
    stsctl(stsd, "domain", "add", "hosted.test")
    stsctl(stsd, "policy", "stage", "hosted.test", "--mode", "testing", "--mx", "mx1.hosted.test", "--max-age", "86400")
    version1 = policy_text("testing", ["mx1.hosted.test"], 86400)

    first = fetcher.fetch(vantage, "hosted.test")
    check_ok(first, body=version1, reused=False)
    check(first["etag"].startswith('"'), first)
    again = fetcher.fetch(vantage, "hosted.test", first["etag"])
    check_ok(again, body="", not_modified=True, reused=True)
    check(again["status"] == 304 and again["etag"] == first["etag"], again)

    stsctl(stsd, "policy", "stage", "hosted.test", "--mode", "testing", "--mx", "mx2.hosted.test", "--max-age", "86400")
    changed = fetcher.fetch(vantage, "hosted.test", first["etag"])
    check_ok(changed, body=policy_text("testing", ["mx2.hosted.test"], 86400), reused=True)
    check(changed["etag"] and changed["etag"] != first["etag"], changed)
    check_ok(fetcher.fetch(vantage, "hosted.test", changed["etag"]), not_modified=True, reused=True)
    log("stsd's policy host: ETag, 304 for it, a new ETag for a new version, all over one connection")


def against_nginx(parts, ca, fetcher):
    edge = Nginx(parts.work, "edge", EDGE)
    status_page = "    location = /nginx_status { stub_status; }\n"
    for domain in ("a.test", "b.test"):
        edge.site(domain, *ca.issue([f"mta-sts.{domain}"]), policy_text(mx=[f"mx1.{domain}"]), extra=status_page)
    parts.add(edge.start())
    vantage = edge.vantage
    connection_count = ConnectionCount(edge, ca.cert, "mta-sts.a.test")

    first = fetcher.fetch(vantage, "a.test")
    check_ok(first, body=policy_text(mx=["mx1.a.test"]), reused=False)
    check_ok(fetcher.fetch(vantage, "a.test", first["etag"]), not_modified=True, reused=True)
    check_ok(fetcher.fetch(vantage, "b.test"), reused=False)  # another host: never the same connection
    check_ok(fetcher.fetch(vantage, "a.test"), reused=True)
    check_ok(fetcher.fetch(vantage, "b.test"), reused=True)
    connections = connection_count()
    check(connections == 2, f"nginx accepted {connections} connections for 5 fetches of 2 hosts, expected 2")

    # A new file of another size: nginx's ETag (mtime-size) changes.
    edge.write_policy("a.test", policy_text(mx=["mx1.a.test", "mx2.a.test"]))
    changed = fetcher.fetch(vantage, "a.test", first["etag"])
    check_ok(changed, body=policy_text(mx=["mx1.a.test", "mx2.a.test"]), reused=True)
    check(changed["etag"] != first["etag"], changed)

    # A reload makes nginx close its idle connections: the next fetch opens a new one.
    edge.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        after_reload = fetcher.fetch(vantage, "a.test", changed["etag"])
        check_ok(after_reload, not_modified=True)
        if not after_reload["reused"]:
            break
        time.sleep(0.2)
    check(not after_reload["reused"], "nginx kept its connections across the reload")
    connections = connection_count()
    check(connections == 3, f"nginx accepted {connections} connections, expected 3 (one new after the reload)")
    log("nginx: one connection per host, reused; a new one after nginx closed the idle ones, without a failure")


def main(parts):
    ca = TestCA(parts.work)
    fetcher = parts.add(Fetcher(ca.cert))
    against_stsd_policy_host(parts, ca, fetcher)
    against_nginx(parts, ca, fetcher)


if __name__ == "__main__":
    run_script(main)
