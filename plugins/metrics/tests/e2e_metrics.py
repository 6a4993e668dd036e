"""The metrics plugin and the /metrics endpoint behind the real binary: queries sent with
kdig over UDP and TCP (NOERROR, NXDOMAIN, REFUSED) are counted exactly by transport,
type and rcode; /healthz and /readyz (the core gate alone without a store) and their
metrics; /metrics answers 404/405/400 to what it does not serve and survives
garbage; process metrics are there; SIGHUP moves the endpoint to a new port without
resetting counters, and a SIGHUP to a port in use is refused while the old port keeps
serving; config errors name file and line."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import STSD_BIN, check, free_port, kdig, run_tests

METRICS_PORT = free_port()

CONFIG = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      metrics: {}
      file:
        - zone: example.org.
          path: {source}/zones/example.org.zone
metrics:
  listen: 127.0.0.1:MPORT
"""

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def fetch(port, path="/metrics", method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(port):
    status, headers, body = fetch(port)
    check(status == 200, (status, body))
    check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), headers)
    samples = {}
    types = []
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            types.append(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        check(m, f"not a valid sample line: {line!r}")
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    check(len(types) == len(set(types)), f"a family declared twice: {types}")
    return samples


def server_label(stsd):
    return f'server="127.0.0.1:{stsd.port}"'


def test_queries_are_counted_exactly(stsd):
    before = scrape(METRICS_PORT)
    s = server_label(stsd)
    udp = [("www.example.org", "A", "NOERROR")] * 3 + [("nope.example.org", "A", "NXDOMAIN")] * 2 + [
        ("www.example.net", "A", "REFUSED"), ("example.org", "TXT", "NOERROR"), ("example.org", "CAA", "NOERROR")]
    tcp = [("www.example.org", "AAAA", "NOERROR")] * 2 + [("nope.example.org", "MX", "NXDOMAIN"),
                                                          ("example.net", "SOA", "REFUSED")]
    for name, rtype, rcode in udp:
        r = kdig(stsd, name, rtype)
        check(r.rcode == rcode, (name, rtype, r))
    for name, rtype, rcode in tcp:
        r = kdig(stsd, name, rtype, tcp=True)
        check(r.rcode == rcode, (name, rtype, r))
    after = scrape(METRICS_PORT)

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)

    expected_requests = {("udp", "A"): 6, ("udp", "TXT"): 1, ("udp", "other"): 1, ("tcp", "AAAA"): 2,
                         ("tcp", "MX"): 1, ("tcp", "SOA"): 1, ("udp", "AAAA"): 0, ("tcp", "A"): 0}
    for (proto, qtype), n in expected_requests.items():
        key = f'stsd_dns_requests_total{{{s},proto="{proto}",type="{qtype}"}}'
        check(key in after, f"missing {key}")
        check(delta(key) == n, f"{key}: {delta(key)} != {n}")
    for rcode, n in {"NOERROR": 7, "NXDOMAIN": 3, "REFUSED": 2, "SERVFAIL": 0}.items():
        key = f'stsd_dns_responses_total{{{s},rcode="{rcode}"}}'
        check(delta(key) == n, f"{key}: {delta(key)} != {n}")
    total = len(udp) + len(tcp)
    check(delta(f"stsd_dns_request_duration_seconds_count{{{s}}}") == total, after)
    check(delta(f'stsd_dns_request_duration_seconds_bucket{{{s},le="+Inf"}}') == total, after)
    check(delta(f"stsd_dns_request_duration_seconds_sum{{{s}}}") > 0, after)


def test_process_metrics(stsd):
    samples = scrape(METRICS_PORT)
    check(any(k.startswith('stsd_build_info{version="') and v == 1 for k, v in samples.items()), samples)
    started = samples.get("process_start_time_seconds", 0)
    check(time.time() - 600 < started <= time.time() + 1, f"start time {started}")
    check(samples.get("process_resident_memory_bytes", 0) > 1 << 20, samples)
    check(samples.get("process_open_fds", 0) > 3, samples)


def test_probes_without_a_store(stsd):
    status, headers, body = fetch(METRICS_PORT, "/healthz")
    check(status == 200 and body == "ok\n" and headers.get("Cache-Control") == "no-store", (status, headers, body))
    # No `storage:`: the core's gate is the only one.
    status, _, body = fetch(METRICS_PORT, "/readyz")
    check(status == 200 and body == "ready\nopen listeners-bound\n", (status, body))
    status, headers, body = fetch(METRICS_PORT, "/readyz", method="HEAD")
    check(status == 200 and body == "", (status, headers))
    samples = scrape(METRICS_PORT)
    check(samples.get("stsd_ready") == 1, samples)
    check(samples.get('stsd_readiness_gate_open{gate="listeners-bound"}') == 1, samples)


def test_other_paths_and_methods(stsd):
    status, _, body = fetch(METRICS_PORT, "/")
    check(status == 404, (status, body))
    status, _, body = fetch(METRICS_PORT, "/metrics/extra")
    check(status == 404, (status, body))
    status, headers, body = fetch(METRICS_PORT, "/metrics", method="POST")
    check(status == 405 and headers.get("Allow") == "GET, HEAD", (status, headers))
    status, headers, body = fetch(METRICS_PORT, "/metrics", method="HEAD")
    check(status == 200 and body == "" and int(headers["Content-Length"]) > 100, (status, headers))
    # curl, as an operator would check it by hand.
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                        f"http://127.0.0.1:{METRICS_PORT}/metrics"], capture_output=True, text=True, timeout=10)
    check(p.stdout == "405", p)


def raw(data, read=True, timeout=3):
    with socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=timeout) as c:
        c.sendall(data)
        if not read:
            return b""
        out = b""
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def test_bad_requests_do_not_hurt(stsd):
    check(raw(b"\x00\xff garbage \r\n\r\n").startswith(b"HTTP/1.1 400"), "garbage gets 400")
    check(raw(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431"),
          "a huge header gets 431")
    check(raw(b"POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n").startswith(b"HTTP/1.1 413"),
          "a large body gets 413")
    raw(b"GET /metr", read=False)                      # hang up mid-request
    # Many idle connections at once: over the cap, they are closed, and DNS goes on.
    idle = [socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=3) for _ in range(80)]
    try:
        r = kdig(stsd, "www.example.org", "A")
        check(r.rcode == "NOERROR", r)
    finally:
        for c in idle:
            c.close()
    deadline = time.time() + 10
    while True:   # the server notices the closed connections
        try:
            scrape(METRICS_PORT)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    check(stsd.proc.poll() is None, "stsd is still running")
    check(kdig(stsd, "www.example.org", "A", tcp=True).rcode == "NOERROR", "DNS over TCP still answers")


def test_reload_moves_the_endpoint_and_keeps_counters(stsd):
    global METRICS_PORT
    s = server_label(stsd)
    key = f'stsd_dns_requests_total{{{s},proto="udp",type="A"}}'
    before = scrape(METRICS_PORT)[key]
    check(before >= 4, before)
    old_port, new_port = METRICS_PORT, free_port()
    stsd.write_config(CONFIG.replace("MPORT", str(new_port)))
    stsd.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while True:
        try:
            after = scrape(new_port)
            break
        except (OSError, urllib.error.URLError):
            check(time.time() < deadline, "the new metrics port never answered:\n" + stsd.read_log())
            time.sleep(0.2)
    METRICS_PORT = new_port
    check(after[key] >= before, f"counters reset by a reload: {before} -> {after[key]}")
    try:
        fetch(old_port)
        check(False, "the old metrics port still answers")
    except (OSError, urllib.error.URLError):
        pass
    check("config reloaded" in stsd.read_log(), stsd.read_log())


def test_reload_to_a_port_in_use_is_refused(stsd):
    """Phase one of the reload binds the new port: one in use refuses the whole reload,
    and /metrics stays where it was."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        log_before = len(stsd.read_log())
        stsd.write_config(CONFIG.replace("MPORT", str(taken)))
        stsd.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "reload rejected" not in stsd.read_log()[log_before:]:
            check(time.time() < deadline, "the reload was not rejected:\n" + stsd.read_log())
            time.sleep(0.1)
        line = [l for l in stsd.read_log()[log_before:].splitlines() if "reload rejected" in l][0]
        check(f"metrics.listen: cannot listen on 127.0.0.1:{taken}" in line, line)
        check(scrape(METRICS_PORT), "the old port still serves")
    finally:
        holder.close()
        stsd.write_config(CONFIG.replace("MPORT", str(METRICS_PORT)))


def check_config(text):
    work = tempfile.mkdtemp(prefix="stsd-metrics-")
    path = os.path.join(work, "stsd.yaml")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", path], capture_output=True, text=True,
                       timeout=30, cwd=work)
    return p.returncode, p.stderr + p.stdout, path


BAD = """servers:
  - listen: ["127.0.0.1:5300"]
    plugins:
      metrics: {}
      chaos: {}
metrics:
  listen: 127.0.0.1
"""


def test_config_errors_name_file_and_line(stsd):
    rc, out, path = check_config(BAD)
    check(rc != 0 and f"{path}:7:11: metrics.listen: '127.0.0.1' is not ADDRESS:PORT" in out, out)
    rc, out, path = check_config(BAD.replace("metrics: {}", "metrics: { buckets: 3 }").replace("127.0.0.1\n",
                                                                                                "127.0.0.1:9153\n"))
    check(rc != 0 and f"{path}:4:18: " in out and "unknown key 'buckets'" in out, out)
    rc, out, path = check_config(BAD.replace("  listen: 127.0.0.1\n", "  port: 9153\n"))
    check(rc != 0 and f"{path}:7:3: metrics.port: unknown key 'port'" in out, out)
    rc, out, path = check_config(BAD.replace("  listen: 127.0.0.1\n", ""))
    check(rc == 0, f"`metrics:` alone (default listen) is valid: {out}")


if __name__ == "__main__":
    run_tests(CONFIG.replace("MPORT", str(METRICS_PORT)),
              [test_queries_are_counted_exactly, test_process_metrics, test_probes_without_a_store,
               test_other_paths_and_methods,
               test_bad_requests_do_not_hurt, test_reload_moves_the_endpoint_and_keeps_counters,
               test_reload_to_a_port_in_use_is_refused,
               test_config_errors_name_file_and_line])
