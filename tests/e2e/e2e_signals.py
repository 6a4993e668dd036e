"""Process behaviour: --version, --check-config, SIGHUP reload (a bad config is
rejected and the old one keeps serving), graceful SIGTERM/SIGINT."""
import os
import shutil
import signal
import subprocess
import time

from harness import STSD_BIN, SOURCE_DIR, Stsd, check, kdig, run_tests

ZONE_V1 = """$ORIGIN reload.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 604800 60
@ IN NS ns1
ns1 IN A 127.0.0.1
www IN A 192.0.2.1
"""

CONFIG = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: reload.test.
          path: reload.test.zone
"""


def stsd_cmd(*args):
    return subprocess.run([os.path.join(STSD_BIN, "stsd"), *args], capture_output=True, text=True, timeout=30)


def test_version():
    p = stsd_cmd("--version")
    check(p.returncode == 0 and p.stdout.startswith("stsd "), p)


def test_usage_errors():
    p = stsd_cmd("--bogus")
    check(p.returncode == 2 and "unknown" in p.stderr, p)
    p = stsd_cmd()
    check(p.returncode == 2 and "usage" in p.stderr, p)


def test_check_config():
    s = Stsd(CONFIG)
    s.write_config()
    with open(os.path.join(s.dir, "reload.test.zone"), "w") as f:
        f.write(ZONE_V1)
    p = stsd_cmd("--check-config", s.config_path)
    check(p.returncode == 0, p)
    s.write_config(CONFIG + "\nunknown_key: 1\n")
    p = stsd_cmd("--check-config", s.config_path)
    check(p.returncode == 1 and "stsd.yaml:9" in p.stderr and "unknown_key" in p.stderr, p)
    p = stsd_cmd("--check-config", os.path.join(s.dir, "missing.yaml"))
    check(p.returncode == 1 and "cannot open" in p.stderr, p)
    shutil.rmtree(s.dir)


def test_reload_and_graceful_stop():
    s = Stsd(CONFIG, wait=False)
    os.makedirs(s.dir, exist_ok=True)
    zone = os.path.join(s.dir, "reload.test.zone")
    with open(zone, "w") as f:
        f.write(ZONE_V1)
    with s:
        s.wait_ready()
        check(kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.1"], "initial zone")
        # A changed zone is picked up on SIGHUP.
        with open(zone, "w") as f:
            f.write(ZONE_V1.replace("192.0.2.1", "192.0.2.2").replace(" 1 3600", " 2 3600"))
        s.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and kdig(s, "www.reload.test", "A").rdatas("A") != ["192.0.2.2"]:
            time.sleep(0.1)
        check(kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.2"], "zone reloaded")
        # A broken zone file: the reload is rejected and the old data keeps serving.
        with open(zone, "w") as f:
            f.write(ZONE_V1.replace("192.0.2.1", "not-an-address"))
        s.signal(signal.SIGHUP)
        time.sleep(1)
        check(kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.2"], "old zone kept")
        check("reload rejected" in s.read_log(), s.read_log())
        # A broken config: the same.
        s.write_config(CONFIG + "\nnot_a_key: true\n")
        s.signal(signal.SIGHUP)
        time.sleep(1)
        check(kdig(s, "www.reload.test", "A").rdatas("A") == ["192.0.2.2"], "old config kept")
        check("not_a_key" in s.read_log(), s.read_log())
        check(s.proc.poll() is None, "still running")
        rc = s.stop(signal.SIGTERM)
        check(rc == 0, f"exit code {rc}")
        check("stopped" in s.read_log(), s.read_log())


def test_sigint_stops():
    s = Stsd(CONFIG, wait=False)
    os.makedirs(s.dir, exist_ok=True)
    with open(os.path.join(s.dir, "reload.test.zone"), "w") as f:
        f.write(ZONE_V1)
    with s:
        s.wait_ready()
        check(s.stop(signal.SIGINT) == 0, "SIGINT exit code")


def test_bind_failure_is_reported():
    # A listen address that is not ours to bind.
    bad = Stsd("servers:\n  - listen: [\"192.0.2.1:53\"]\n    plugins: {}\n", wait=False)
    bad.start()
    rc = bad.proc.wait(15)
    bad.log.close()
    check(rc == 1 and "cannot listen on 192.0.2.1:53" in bad.read_log(), bad.read_log())


if __name__ == "__main__":
    run_tests(None, [test_version, test_usage_errors, test_check_config, test_reload_and_graceful_stop,
                     test_sigint_stops, test_bind_failure_is_reported])
