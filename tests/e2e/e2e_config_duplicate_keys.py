"""Duplicate keys in stsd.yaml are refused, naming both lines (issue 12, case 10).

yaml-cpp keeps every duplicate and lookups take the first, so `workers: 1` then
`workers: 3` used to run one worker and a second `servers:` list was ignored without a
word. Each config below repeats a key (at the top level, inside a plugin's section,
`servers:` itself); in each the first occurrence points the `file` plugin at a changed
zone, so a config whose first occurrence won would be seen serving 192.0.2.2. Every one
is refused by `stsd --check-config` and by a SIGHUP reload, and the old config keeps
serving 192.0.2.1."""
import os
import subprocess

from harness import STSD_BIN, Stsd, check, kdig, reload_and_wait, run_tests

ZONE = """$ORIGIN dup.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 604800 60
@ IN NS ns1
ns1 IN A 127.0.0.1
www IN A {address}
"""

GOOD = """servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: dup.test.
          path: old.zone
"""

# (name, config, the line of the repeated key, the line of its first occurrence, the key)
DUPLICATES = [
    ("top level", """workers: 1
workers: 3
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: dup.test.
          path: new.zone
""", 2, 1, "workers"),
    ("inside a plugin's section", """servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: dup.test.
          path: new.zone
          path: old.zone
""", 7, 6, "path"),
    ("a second servers list", """servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: dup.test.
          path: new.zone
log_level: info
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: dup.test.
          path: old.zone
""", 8, 1, "servers"),
]


def write_zones(server):
    os.makedirs(server.dir, exist_ok=True)
    for name, address in (("old.zone", "192.0.2.1"), ("new.zone", "192.0.2.2")):
        with open(os.path.join(server.dir, name), "w") as f:
            f.write(ZONE.format(address=address))


def served_address(server):
    return kdig(server, "www.dup.test", "A").rdatas("A")


def check_names_both_lines(text, line, first_line, key):
    check(f"stsd.yaml:{line}:" in text, f"the repeated key's line {line} is not named: {text}")
    check(f"duplicate key '{key}' (first on line {first_line})" in text, text)


def test_check_config_refuses_duplicates():
    server = Stsd(GOOD)
    write_zones(server)
    server.write_config()
    stsd = os.path.join(STSD_BIN, "stsd")
    p = subprocess.run([stsd, "--check-config", server.config_path], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, p)
    for name, config, line, first_line, key in DUPLICATES:
        server.write_config(config)
        p = subprocess.run([stsd, "--check-config", server.config_path], capture_output=True, text=True, timeout=30)
        check(p.returncode == 1, f"{name}: --check-config exited {p.returncode}: {p.stdout}{p.stderr}")
        check_names_both_lines(p.stderr, line, first_line, key)


def test_reload_refuses_duplicates_and_keeps_serving():
    server = Stsd(GOOD, wait=False)
    write_zones(server)
    with server:
        server.wait_ready()
        check(served_address(server) == ["192.0.2.1"], "the first config")
        for name, config, line, first_line, key in DUPLICATES:
            server.write_config(config)
            reload_and_wait(server, "reload rejected")
            rejection = [l for l in server.read_log().splitlines() if "reload rejected" in l][-1]
            check_names_both_lines(rejection, line, first_line, key)
            check(served_address(server) == ["192.0.2.1"], f"{name}: the old config stopped serving")
        # The same change without a duplicate is applied, so the test would see one.
        server.write_config(GOOD.replace("old.zone", "new.zone"))
        reload_and_wait(server, "config reloaded")
        check(served_address(server) == ["192.0.2.2"], "a good reload is applied")


if __name__ == "__main__":
    run_tests(None, [test_check_config_refuses_duplicates, test_reload_refuses_duplicates_and_keeps_serving])
