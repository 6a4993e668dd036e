"""A reload is all or nothing (issue 10): when the last section of the new config is bad,
every part stays on the old config. The new config moves the metrics port, changes a
policy file of the `policies:` folder (which would stage a new version in the store) and
the mtasts rotation, and ends with a bad `confirm:` section. After SIGHUP: /metrics still
answers on the old port and not on the new one, the store holds the same versions and
events as before, and the TXT id is unchanged. The same config with a good `confirm:`
section then applies all of it, which shows the test would see a change."""
import json
import os
import time
import urllib.error
import urllib.request

from harness import Stsd, check, free_port, kdig, reload_and_wait, run_tests

POLICY = """domain: example.com
mode: enforce
mx:
  - {mx}
max_age: 604800
"""

CONFIG = """
storage: {dir}/db
admin:
  socket: {dir}/stsd.sock
metrics:
  listen: 127.0.0.1:METRICS_PORT
policies: {dir}/policies
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      metrics: {}
      mtasts:
        nameservers: [ns1.example.org.]
        hostmaster: hostmaster.example.org.
        rotation: ROTATION
confirm:
  interval: 60s
  vantages: ["127.0.0.1:9"]
  CONFIRM_LINE
"""


def config(metrics_port, rotation, confirm_line):
    return (CONFIG.replace("METRICS_PORT", str(metrics_port)).replace("ROTATION", rotation)
            .replace("CONFIRM_LINE", confirm_line))


def metrics_answers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def write_policy(server, mx):
    folder = os.path.join(server.dir, "policies")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "example.com.yaml"), "w") as f:
        f.write(POLICY.format(mx=mx))


def store_view(server):
    """What the store holds for example.com: versions, settings and the events a config
    load can cause (the confirmer's own probe events come and go with its rounds)."""
    sock = ["--socket", os.path.join(server.dir, "stsd.sock")]
    status = json.loads(server.run("stsctl", *sock, "--json", "status", "example.com").stdout)
    events = json.loads(server.run("stsctl", *sock, "--json", "events", "example.com").stdout)
    kept = [e for e in events["events"] if not e["kind"].startswith("probe")]
    return {key: status.get(key) for key in ("staged", "confirmed", "settings", "served_id")}, kept


def test_bad_last_section_changes_nothing():
    old_port, new_port = free_port(), free_port()
    server = Stsd(config(old_port, "1d", "probes: 2"), wait=False)
    write_policy(server, "mx1.example.com")
    with server:
        server.wait_ready()
        check(metrics_answers(old_port), "metrics on the first port:\n" + server.read_log())
        status, events = store_view(server)
        check(status["staged"]["version"] == 1, status)
        check(len(events) >= 2, events)
        txt = kdig(server, "_mta-sts.example.com", "TXT")

        # Every section changes, and the last one is bad.
        write_policy(server, "mx2.example.com")
        server.write_config(config(new_port, "1h", "probes: 0"))
        reload_and_wait(server, "reload rejected")
        check("probes" in server.read_log(), server.read_log())
        check(metrics_answers(old_port), "the old metrics port stopped answering")
        check(not metrics_answers(new_port), "the metrics port moved although the reload was rejected")
        check(store_view(server) == (status, events), "the store changed although the reload was rejected")
        after = kdig(server, "_mta-sts.example.com", "TXT")
        check((after.rcode, after.answer) == (txt.rcode, txt.answer), (txt, after))

        # The same config with a good last section applies everything.
        server.write_config(config(new_port, "1h", "probes: 2"))
        reload_and_wait(server, "config reloaded")
        deadline = time.time() + 10
        while not metrics_answers(new_port):
            check(time.time() < deadline, "the new metrics port never answered:\n" + server.read_log())
            time.sleep(0.1)
        check(not metrics_answers(old_port), "the old metrics port still answers")
        status, _ = store_view(server)
        check(status["staged"]["version"] == 2, status)


if __name__ == "__main__":
    run_tests(None, [test_bad_last_section_changes_nothing])
