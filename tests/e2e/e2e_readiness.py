"""Readiness with the real binary over a store big enough that loading its index takes a
while (bench/fill_store.cpp's served records of 300,000 domains):
- /readyz answers 503 naming the closed gate `store-index-loaded` while the index loads
  (and /healthz 200 meanwhile), then 200 once the index is loaded and the listeners are
  bound, and the domains answer;
- sd_notify to a real unix datagram socket as NOTIFY_SOCKET (a path, and an abstract
  '@name'): STATUS naming the awaited gates, READY=1 only once the index is loaded and
  the DNS listeners answer, RELOADING=1 and READY=1 around SIGHUP (a rejected reload
  says so in STATUS), STOPPING=1 on SIGTERM as the last message;
- with NOTIFY_SOCKET empty (unset) nothing is sent and nothing is complained about."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import STSD_BIN, Stsd, TestFailure, check, free_port, kdig, query, run_tests, wait_for

DOMAINS = 300_000
STORE_TEMPLATE = tempfile.mkdtemp(prefix="stsd-e2e-readiness-store-")

CONFIG = """
storage: STORE
admin:
  socket: {dir}/stsd.sock
metrics:
  listen: 127.0.0.1:MPORT
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.example.org.]
        hostmaster: hostmaster.example.org.
"""


def fill_store():
    started = time.time()
    subprocess.run([os.path.join(STSD_BIN, "stsd_fill_store"), STORE_TEMPLATE, str(DOMAINS), "--served-only"],
                   check=True, capture_output=True, timeout=300)
    print(f"store of {DOMAINS} domains filled in {time.time() - started:.1f}s", flush=True)


def server(metrics_port, env=None, store=STORE_TEMPLATE):
    config = CONFIG.replace("STORE", store).replace("MPORT", str(metrics_port))
    s = Stsd(config, env=env, wait=False)
    s.env.pop("NOTIFY_SOCKET", None)  # whatever runs the suite: only what the test sets
    s.env.update(env or {})
    return s


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return None, ""  # not listening yet, or gone


def mta_sts_answers(s, index):
    r = kdig(s, f"_mta-sts.dom{index}.example", "TXT")
    return r.rcode == "NOERROR" and any("v=STSv1" in t for t in r.rdatas("TXT"))


def test_readyz_is_503_until_the_index_is_loaded():
    metrics_port = free_port()
    with server(metrics_port).start() as s:
        seen = []  # (status, body) in order
        deadline = time.time() + 180
        while time.time() < deadline:
            check(s.proc.poll() is None, "stsd exited:\n" + s.read_log())
            status, body = get(metrics_port, "/readyz")
            if status is None:
                time.sleep(0.01)
                continue
            seen.append((status, body))
            if status == 200:
                break
            health, text = get(metrics_port, "/healthz")
            check(health == 200 and text == "ok\n", (health, text))  # alive while it loads
        check(seen and seen[-1][0] == 200, f"/readyz never answered 200: {seen[-3:]}\n" + s.read_log())
        loading = [body for status, body in seen if status == 503 and "closed store-index-loaded\n" in body]
        check(loading, f"no 503 naming store-index-loaded before ready: {seen[:3]}\n" + s.read_log())
        check(loading[0].startswith("not ready: waiting for "), loading[0])
        check("store-index-loaded" in loading[0].splitlines()[0], loading[0])
        check(all(status == 503 for status, _ in seen[:-1]), seen)
        check(seen[-1][1] == "ready\nopen listeners-bound\nopen store-index-loaded\n", seen[-1])
        # Ready means served: the index is loaded and the listeners answer.
        check(f"served index of {DOMAINS} domains loaded" in s.read_log(), s.read_log())
        check(mta_sts_answers(s, 0) and mta_sts_answers(s, DOMAINS - 1), "a filled domain does not answer")
        status, metrics = get(metrics_port, "/metrics")
        check(status == 200 and "\nstsd_ready 1\n" in metrics, metrics[-500:])
        check('\nstsd_readiness_gate_open{gate="store-index-loaded"} 1\n' in metrics, metrics[-500:])
        for _ in range(5):
            check(get(metrics_port, "/readyz")[0] == 200, "ready went back")
        print(f"/readyz: {len(loading)} answers 503 naming store-index-loaded, then 200", flush=True)


class ManagerSocket:
    """A unix datagram socket bound as systemd binds its notify socket."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)

    def receive(self, timeout):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return None

    def wait_for(self, prefix, timeout, seen):
        """Receives until a message starts with `prefix`; every message goes to `seen`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            message = self.receive(max(0.01, deadline - time.time()))
            if message is None:
                break
            seen.append(message)
            if message.startswith(prefix):
                return message
        raise TestFailure(f"no {prefix!r} within {timeout}s; received {seen}")

    def close(self):
        self.sock.close()
        if not self.address.startswith("@") and os.path.exists(self.address):
            os.unlink(self.address)


def test_sd_notify_ready_after_the_index_and_listeners_then_reloading_and_stopping():
    metrics_port = free_port()
    manager = ManagerSocket(os.path.join(tempfile.mkdtemp(prefix="stsd-e2e-notify-"), "notify"))
    try:
        s = server(metrics_port, env={"NOTIFY_SOCKET": manager.address})
        with s.start():
            seen = []
            ready = manager.wait_for("READY=1", 180, seen)
            # At READY=1 the DNS listeners answer at once and the whole index is served.
            query(s, "_mta-sts.dom7.example", "TXT", timeout=1.0)
            check(mta_sts_answers(s, DOMAINS - 1), "READY=1 before the last domain answers")
            check(f"served index of {DOMAINS} domains loaded" in s.read_log(), s.read_log())
            check(get(metrics_port, "/readyz")[0] == 200, "READY=1 while /readyz is not 200")
            check(ready == "READY=1\nSTATUS=ready", ready)
            waiting = [m for m in seen if m.startswith("STATUS=waiting for: ")]
            check(any("store-index-loaded" in m for m in waiting), f"no STATUS naming the index: {seen}")
            check(all(not m.startswith("READY=1") for m in seen[:-1]), seen)

            s.signal(signal.SIGHUP)
            seen = []
            reloading = manager.wait_for("RELOADING=1", 30, seen)
            check(reloading.startswith("RELOADING=1\nMONOTONIC_USEC=") and "\nSTATUS=reloading" in reloading,
                  reloading)
            check(manager.wait_for("READY=1", 30, seen) == "READY=1\nSTATUS=ready (config reloaded)", seen)

            s.write_config(s.config_text + "\nunknown_key: 1\n")
            s.signal(signal.SIGHUP)
            seen = []
            manager.wait_for("RELOADING=1", 30, seen)
            rejected = manager.wait_for("READY=1", 30, seen)
            check(rejected.startswith("READY=1\nSTATUS=ready; reload rejected, the previous config keeps serving: ")
                  and "unknown top-level key 'unknown_key'" in rejected, rejected)

            check(s.stop() == 0, "stsd did not exit cleanly on SIGTERM:\n" + s.read_log())
            seen = []
            manager.wait_for("STOPPING=1", 10, seen)
            check(seen[-1] == "STOPPING=1\nSTATUS=stopping", seen)
            check(manager.receive(0.3) is None, "a message after STOPPING=1")
            check("sd_notify" not in s.read_log(), s.read_log())
    finally:
        manager.close()


def test_sd_notify_to_an_abstract_socket():
    metrics_port = free_port()
    manager = ManagerSocket(f"@stsd-e2e-notify-{os.getpid()}-{time.time_ns()}")
    try:
        with server(metrics_port, env={"NOTIFY_SOCKET": manager.address}).start() as s:
            manager.wait_for("READY=1", 180, [])
            check(mta_sts_answers(s, 1), "READY=1 before the domains answer")
    finally:
        manager.close()


def test_nothing_is_sent_without_notify_socket():
    metrics_port = free_port()
    # Empty is unset (sd_notify(3)): a server that tried to send would log why it could not.
    with server(metrics_port, env={"NOTIFY_SOCKET": ""}).start() as s:
        wait_for(lambda: get(metrics_port, "/readyz")[0] == 200, "/readyz 200", timeout=180)
        check(s.stop() == 0, s.read_log())
        check("sd_notify" not in s.read_log(), s.read_log())


if __name__ == "__main__":
    fill_store()
    try:
        run_tests(None, [test_readyz_is_503_until_the_index_is_loaded,
                         test_sd_notify_ready_after_the_index_and_listeners_then_reloading_and_stopping,
                         test_sd_notify_to_an_abstract_socket, test_nothing_is_sent_without_notify_socket])
    finally:
        subprocess.run(["rm", "-rf", STORE_TEMPLATE])
