"""Files the operator names (zone files and $INCLUDE, the policies folder, token files)
against the real binary, with `--check-config` and with a SIGHUP reload (issue 12, cases
5, 12 and the token-file half of 6):
- a symlink to a 0600 file holding a marker, or to /etc/shadow, and `$INCLUDE` of them:
  refused, and neither the marker nor a line of /etc/shadow is ever in the output or log;
- `$INCLUDE /dev/zero` and a FIFO: refused at once, in bounded memory, and a reload that
  meets a FIFO is refused while DNS keeps answering;
- `$INCLUDE` outside the zone's folder and of a folder; NUL bytes;
- TTLs 4294967296 and 9999999w refused with file:line, the old zone kept on reload;
- a dangling symlink and a folder named x.yaml in policies/ reported;
- a world-writable token file refused, by stsd and by stsctl.
--check-config runs under `prlimit --as` (1 GiB), so a reader that does not stop cannot
take the machine down; a run that does not end in 20 s is killed and fails the test."""
import os
import signal
import subprocess
import tempfile
import time

import harness
from harness import STSD_BIN, Stsd, check, free_port, kdig, run_tests, wait_for

MARKER = "SECRET-MARKER-5d41402abc4b2a76"
MEMORY_LIMIT = 1 << 30  # address space of a --check-config run
MAX_RSS_KIB = 256 * 1024  # what a refused file may cost at most
CHECK_TIMEOUT = 20
PROMPT = 5.0  # seconds: "at once", with room for a loaded machine

ZONE_HEAD = ("$TTL 300\n"
             "@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
             "@ NS ns1\n"
             "ns1 A 192.0.2.1\n")  # the line under test is line 5

FILE_CONFIG = """servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: example.org.
          path: zones/example.zone
EXTRA"""

POLICY = "mode: enforce\nmx: [mx1.example.com]\nmax_age: 86400\n"

POLICIES_CONFIG = """storage: {dir}/db
admin:
  socket: {dir}/stsd.sock
policies: {dir}/policies
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      chaos: {}
      file:
        - zone: example.org.
          path: zones/example.zone
"""

TOKEN_CONFIG = """storage: {dir}/db
admin:
  socket: {dir}/stsd.sock
  listen: "127.0.0.1:ADMIN_PORT"
  token_file: admin.token
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      file:
        - zone: example.org.
          path: zones/example.zone
"""


# --- helpers -------------------------------------------------------------------------

def temp_folder():
    """A folder of the run's own, removed with the servers' when every test passed."""
    folder = tempfile.mkdtemp(prefix="stsd-e2e-inputs-")
    harness._OWN_DIRS.append(folder)
    return folder


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def shadow_secrets():
    """'user:hash' of every /etc/shadow line: none may ever be printed."""
    try:
        with open("/etc/shadow") as f:
            return [":".join(line.split(":")[:2]) for line in f if line.count(":") >= 2]
    except OSError:
        return []


def check_no_secret(text, context):
    check(MARKER not in text, f"{context}: the marker leaked:\n{text}")
    for secret in shadow_secrets():
        check(secret not in text, f"{context}: a line of /etc/shadow leaked:\n{text}")


class Run:
    def __init__(self, rc, output, seconds, max_rss_kib):
        self.rc, self.output, self.seconds, self.max_rss_kib = rc, output, seconds, max_rss_kib

    def __repr__(self):
        return f"<rc={self.rc} {self.seconds:.1f}s maxrss={self.max_rss_kib}KiB\n{self.output}>"


def check_config(folder, config):
    """stsd --check-config on `config` written in `folder`, with a memory limit and a
    deadline; returns rc (None when killed), output, seconds and the peak RSS."""
    path = os.path.join(folder, "stsd.yaml")
    write(path, config.replace("{dir}", folder).replace("{port}", "53"))
    with tempfile.TemporaryFile() as out:
        started = time.time()
        p = subprocess.Popen(["prlimit", f"--as={MEMORY_LIMIT}", os.path.join(STSD_BIN, "stsd"), "--check-config",
                              path], stdout=out, stderr=subprocess.STDOUT, cwd=folder)
        rc = usage = None
        while time.time() - started < CHECK_TIMEOUT:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                rc = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.02)
        if rc is None:
            p.kill()
            _, _, usage = os.wait4(p.pid, 0)
        seconds = time.time() - started
        out.seek(0)
        return Run(rc, out.read().decode(errors="replace"), seconds, usage.ru_maxrss)


def refused(run, *fragments):
    check_no_secret(run.output, "check-config")
    check(run.rc not in (0, None), run)
    check(run.seconds < PROMPT and run.max_rss_kib < MAX_RSS_KIB, run)
    for fragment in fragments:
        check(fragment in run.output, f"missing {fragment!r} in {run}")


def zone_check(lines, extra="", files=None):
    """--check-config of a zone whose line 5 on is `lines`; `files` maps relative paths
    to content, or to a callable that makes the entry."""
    folder = temp_folder()
    for name, content in (files or {}).items():
        content(os.path.join(folder, name)) if callable(content) else write(os.path.join(folder, name), content)
    if not os.path.exists(os.path.join(folder, "zones", "example.zone")):
        write(os.path.join(folder, "zones", "example.zone"), ZONE_HEAD + lines)
    return check_config(folder, FILE_CONFIG.replace("EXTRA", extra)), folder


def symlink(target):
    def make(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
    return make


def fifo(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mkfifo(path)


def folder_entry(path):
    os.makedirs(path)


def reload_and_expect(server, fragment):
    """SIGHUP, then the refusal naming `fragment` must be in the log at once, and no
    secret ever."""
    before = server.read_log().count(fragment)
    server.signal(signal.SIGHUP)
    leaked = lambda log: MARKER in log or any(secret in log for secret in shadow_secrets())
    wait_for(lambda: server.read_log().count(fragment) > before or leaked(server.read_log()),
             f"{fragment!r} in the log", timeout=PROMPT * 2)
    check_no_secret(server.read_log(), "log")


def secret_file(folder, text):
    """A 0600 file outside every folder stsd may read, holding the marker."""
    write(os.path.join(folder, "private", "secret"), text, 0o600)


def private(text):
    return lambda path: write(path, text, 0o600)


# --- case 5: no content of files other users cannot read ------------------------------

# A policy whose mode is the marker, then a line in the form of /etc/shadow.
SECRET_LINES = f"mode: {MARKER}\nmx: [mx.example.com]\nmax_age: 1\n{MARKER}:$y$j9T$x:19000:0:99999:7:::\n"


def test_private_files_are_never_echoed():
    secret_lines = SECRET_LINES
    # policies/: a symlink to the 0600 file, and one to /etc/shadow.
    for target in ("../private/secret", "/etc/shadow"):
        folder = temp_folder()
        secret_file(folder, secret_lines)
        write(os.path.join(folder, "zones", "example.zone"), ZONE_HEAD)
        symlink(target)(os.path.join(folder, "policies", "x.yaml"))
        refused(check_config(folder, POLICIES_CONFIG), "policies/x.yaml: resolves to ",
                "symlinks in the policies folder must stay inside it")
    # $INCLUDE of them, directly and through a symlink in the zone's folder.
    for line in ("$INCLUDE /etc/shadow\n", "$INCLUDE secret.zone\n", "$INCLUDE ../private/secret\n"):
        run, _ = zone_check(line, files={"private/secret": private(secret_lines),
                                         "zones/secret.zone": symlink("../private/secret")})
        refused(run, "zones/example.zone:5: $INCLUDE ", "is outside")
    # A zone file only root may read, with the marker on a bad line: file:line, no quote.
    run, _ = zone_check("", files={"zones/example.zone": private(ZONE_HEAD + f"www A {MARKER}\n")})
    refused(run, "zones/example.zone:5: cannot parse record", "content withheld")


def test_private_files_are_never_echoed_on_reload():
    server = Stsd(POLICIES_CONFIG)
    write(os.path.join(server.dir, "zones", "example.zone"), ZONE_HEAD)
    write(os.path.join(server.dir, "policies", "example.com.yaml"), POLICY)
    secret_file(server.dir, SECRET_LINES)
    with server as s:
        symlink("../private/secret")(os.path.join(s.dir, "policies", "secret.example.com.yaml"))
        reload_and_expect(s, "symlinks in the policies folder must stay inside it")
        os.remove(os.path.join(s.dir, "policies", "secret.example.com.yaml"))
        symlink("/etc/shadow")(os.path.join(s.dir, "policies", "shadow.yaml"))
        reload_and_expect(s, "shadow.yaml: resolves to /etc/shadow")
        check(kdig(s, "example.org", "SOA").rcode == "NOERROR")
        check_no_secret(s.read_log(), "log")


# --- case 5: no hang, no unbounded read ------------------------------------------------

def test_dev_zero_and_fifo_are_refused_at_once():
    run, _ = zone_check("$INCLUDE /dev/zero\n")
    refused(run, "zones/example.zone:5: $INCLUDE /dev/zero is outside")
    run, _ = zone_check("$INCLUDE /dev/zero\n", extra="          include_folders: [/dev]\n")
    refused(run, "zones/example.zone:5: $INCLUDE /dev/zero is a character device, not a regular file")
    run, _ = zone_check("$INCLUDE fifo.zone\n", files={"zones/fifo.zone": fifo})
    refused(run, "zones/example.zone:5: $INCLUDE ", "fifo.zone is a FIFO, not a regular file")
    run, _ = zone_check("", files={"zones/example.zone": fifo})
    refused(run, "zones/example.zone: zone file is a FIFO")


def test_reload_meeting_a_fifo_is_refused_and_dns_keeps_answering():
    server = Stsd(FILE_CONFIG.replace("EXTRA", ""))
    write(os.path.join(server.dir, "zones", "example.zone"), ZONE_HEAD + "www A 192.0.2.80\n")
    fifo(os.path.join(server.dir, "zones", "fifo.zone"))
    with server as s:
        write(os.path.join(s.dir, "zones", "example.zone"), ZONE_HEAD + "$INCLUDE fifo.zone\n")
        reload_and_expect(s, "fifo.zone is a FIFO, not a regular file")
        check(kdig(s, "www.example.org", "A").rdatas("A") == ["192.0.2.80"])
        # The reloads after it still work: nothing is stuck.
        write(os.path.join(s.dir, "zones", "example.zone"), ZONE_HEAD + "www A 192.0.2.81\n")
        s.signal(signal.SIGHUP)
        wait_for(lambda: kdig(s, "www.example.org", "A").rdatas("A") == ["192.0.2.81"], "the next reload")


# --- case 12: silent acceptance -------------------------------------------------------

def test_include_outside_the_folder_and_of_a_folder():
    files = {"elsewhere/mail.zone": "mail A 192.0.2.25\n"}
    run, _ = zone_check("$INCLUDE ../elsewhere/mail.zone\n", files=files)
    refused(run, "zones/example.zone:5: $INCLUDE ", "elsewhere/mail.zone is outside ",
            "$INCLUDE reads only from the zone file's folder and the zone's include_folders")
    run, _ = zone_check("$INCLUDE ../elsewhere/mail.zone\n", extra="          include_folders: [elsewhere]\n",
                        files=files)
    check(run.rc == 0, run)
    run, _ = zone_check("$INCLUDE parts\n", files={"zones/parts": folder_entry})
    refused(run, "zones/example.zone:5: $INCLUDE ", "parts is a folder, not a regular file")


def test_nul_bytes_are_refused():
    run, _ = zone_check("www A 192.0.2.1\0\n")
    refused(run, "zones/example.zone:5: NUL byte at column 16")
    run, _ = zone_check("$INCLUDE part.zone\n", files={"zones/part.zone": "www A 192.0.2.1\n\0\n"})
    refused(run, "zones/part.zone:2: NUL byte")


def test_ttls_beyond_2_31_are_refused():
    for line in ("www 4294967296 A 192.0.2.1\n", "www 9999999w IN A 192.0.2.1\n", "www IN 4294967296 A 192.0.2.1\n",
                 "$TTL 4294967296\n"):
        run, _ = zone_check(line)
        refused(run, "zones/example.zone:5: ", "invalid TTL", "RFC 2181")
    run, _ = zone_check("www 2147483647 A 192.0.2.1\n")
    check(run.rc == 0, run)


def test_ttl_beyond_2_31_on_reload_keeps_the_old_zone():
    server = Stsd(FILE_CONFIG.replace("EXTRA", ""))
    write(os.path.join(server.dir, "zones", "example.zone"), ZONE_HEAD + "www 600 A 192.0.2.80\n")
    with server as s:
        for ttl in ("4294967296", "9999999w"):
            write(os.path.join(s.dir, "zones", "example.zone"), ZONE_HEAD + f"www {ttl} A 192.0.2.80\n")
            reload_and_expect(s, f"example.zone:5: invalid TTL '{ttl}'")
            r = kdig(s, "www.example.org", "A")
            check(r.answer and r.answer[0][1] == 600, r)


def test_policies_folder_entries_that_are_not_files_are_reported():
    for name, make, reason in (("gone.yaml", symlink("nowhere.yaml"), "is a symlink to nowhere.yaml, which does not exist"),
                               ("x.yaml", folder_entry, "is a folder, not a regular file"),
                               ("pipe.yaml", fifo, "is a FIFO, not a regular file")):
        folder = temp_folder()
        write(os.path.join(folder, "zones", "example.zone"), ZONE_HEAD)
        write(os.path.join(folder, "policies", "example.com.yaml"), POLICY)
        make(os.path.join(folder, "policies", name))
        refused(check_config(folder, POLICIES_CONFIG), f"policies/{name}: {reason}")


# --- case 6: token files --------------------------------------------------------------

def test_world_writable_token_file_is_refused():
    admin_port = free_port()
    config = TOKEN_CONFIG.replace("ADMIN_PORT", str(admin_port))
    folder = temp_folder()
    write(os.path.join(folder, "zones", "example.zone"), ZONE_HEAD)
    for mode, accepted in ((0o600, True), (0o666, False), (0o620, False)):
        write(os.path.join(folder, "admin.token"), "e2e-token-0123456789abcdef\n", mode)
        run = check_config(folder, config)
        if accepted:
            check(run.rc == 0, run)
        else:
            refused(run, "admin.token: is writable by group or others", "chmod go-w")

    server = Stsd(config)
    write(os.path.join(server.dir, "zones", "example.zone"), ZONE_HEAD)
    token = os.path.join(server.dir, "admin.token")
    write(token, "e2e-token-0123456789abcdef\n", 0o600)
    with server as s:
        connect = ["--connect", f"127.0.0.1:{admin_port}", "--token-file", token, "domain", "list"]
        wait_for(lambda: s.run("stsctl", *connect, check_rc=False).returncode == 0, "the admin TCP listener")
        os.chmod(token, 0o666)
        reload_and_expect(s, "admin.token: is writable by group or others")
        p = s.run("stsctl", *connect, check_rc=False)
        check(p.returncode != 0 and "is writable by group or others" in p.stderr, p)


if __name__ == "__main__":
    run_tests(None, [test_private_files_are_never_echoed, test_private_files_are_never_echoed_on_reload,
                     test_dev_zero_and_fifo_are_refused_at_once,
                     test_reload_meeting_a_fifo_is_refused_and_dns_keeps_answering,
                     test_include_outside_the_folder_and_of_a_folder, test_nul_bytes_are_refused,
                     test_ttls_beyond_2_31_are_refused, test_ttl_beyond_2_31_on_reload_keeps_the_old_zone,
                     test_policies_folder_entries_that_are_not_files_are_reported,
                     test_world_writable_token_file_is_refused])
