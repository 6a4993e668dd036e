"""The store's fault model end to end (issue 12: cases 1, 6, 9 and 13; src/store/README.md,
"Faults"), with the real stsd and stsctl and RocksDB on a small tmpfs:

- a disk that fills up while stsd runs: no abort; writes refused with a clear error and
  nothing half-applied; DNS answers every check; writes resume once space is freed, and
  every acknowledged write is there after a restart (once with RocksDB's own ENOSPC, once
  with storage_min_free_mib refusing before the disk is full);
- a start on a full disk, and on a read-only mount: DNS served read-only and said so (log,
  stsctl version, metrics); writes resume without a restart once the cause is gone;
- damage in what the opening reads of a table file stops the start, naming the file and
  the way out;
- damage in a table file outside what DNS answers (a block of policy versions): stsd
  starts and answers, the background checksum verification then finds it, and writes are
  refused naming the file and the way out, until a restart (it does not heal);
- a torn write-ahead log tail is reported loudly (log, stsctl version, metrics);
- the store's folder is 0700 and its files 0600, also for a store an older stsd left open.

Mounts need root and stay private: the script runs itself again under `unshare --mount
--propagation private` (exit 77, skipped, when it cannot). A read-only *remount* under a
running stsd is refused by the kernel (RocksDB holds files open for writing: "mount point
is busy"), so the read-only case starts on a read-only mount and makes it writable; a
store failing for good while stsd runs is tests/store/store_faults_test.cpp's (an injected
I/O error).
"""
import os
import re
import signal
import subprocess
import sys
import time

_PRIVATE = "STSD_E2E_PRIVATE_MOUNTS"
if os.environ.get(_PRIVATE) != "1":
    if os.geteuid() != 0:
        print("SKIP: mounting a tmpfs needs root")
        sys.exit(77)
    os.environ[_PRIVATE] = "1"
    try:
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv])
    except OSError as error:
        print(f"SKIP: no private mount namespace: {error}")
        sys.exit(77)

from harness import SOURCE_DIR, Stsd, TestFailure, check, free_port, run_tests  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE_DIR, "plugins", "confirm", "tests"))
from confirm_env import metrics, served_id, status_json, stsctl, wait_until  # noqa: E402

CONFIG = """
storage: {dir}/store/db
storage_min_free_mib: MIN_FREE
admin: { socket: {dir}/stsd.sock }
metrics: { listen: 127.0.0.1:METRICS_PORT }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 1
"""

MAX_STAGES = 3000  # a bound on every fill-up loop (each stage adds a few KiB)


# --- a small file system of the test's own ------------------------------------------

def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise TestFailure(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout}{p.stderr}")


class Tmpfs:
    """A tmpfs of `mib` MiB at <server dir>/store, and a filler file that takes its space."""

    def __init__(self, server, mib):
        self.path = os.path.join(server.dir, "store")
        os.makedirs(self.path, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0755", "tmpfs", self.path)
        self.filler = os.path.join(self.path, "filler")

    def free(self):
        info = os.statvfs(self.path)
        return info.f_bavail * info.f_frsize

    def fill(self, leave=0):
        """Writes the filler until `leave` bytes are free (0: until the disk is full)."""
        with open(self.filler, "ab") as f:
            block = b"\0" * (64 << 10)
            for _ in range(100000):  # 6 GiB at most
                if self.free() <= leave:
                    break
                try:
                    f.write(block[:max(4096, min(len(block), self.free() - leave))])
                    f.flush()
                except OSError:
                    break

    def empty(self):
        os.remove(self.filler)

    def remount(self, mode):
        run("mount", "-o", f"remount,{mode}", self.path)

    def unmount(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)


def server(min_free_mib, tmpfs_mib=None):
    """An stsd (not started) whose store is on a tmpfs of `tmpfs_mib` MiB (None: the disk)."""
    metrics_port = free_port()
    s = Stsd(CONFIG.replace("MIN_FREE", str(min_free_mib)).replace("METRICS_PORT", str(metrics_port)))
    s.metrics_port = metrics_port
    s.tmpfs = Tmpfs(s, tmpfs_mib) if tmpfs_mib else None
    return s


def finish(s):
    s.stop()
    if s.tmpfs:
        s.tmpfs.unmount()


# --- what the tests look at ------------------------------------------------------------

def stage(s, domain, n):
    """Stages a policy that differs from every other one (and takes a few KiB)."""
    mx = [f"mx{n}-{i}.{'a' * 40}.example.test" for i in range(12)]
    args = ["policy", "stage", domain, "--mode", "enforce", "--max-age", str(86400 + n)]
    for m in mx:
        args += ["--mx", m]
    return stsctl(s, *args, check_rc=False)


def staged_number(output):
    """The version number in `stsctl policy stage`'s "staged DOMAIN version N ..."."""
    match = re.search(r"\bversion (\d+)\b", output)
    check(match, f"no version in: {output}")
    return int(match.group(1))


def staged_version(s, domain):
    staged = status_json(s, domain).get("staged")
    return staged.get("version") if isinstance(staged, dict) else staged


def add_confirmed(s, domain):
    """Adds `domain` with version 1 confirmed; returns the id DNS serves."""
    stsctl(s, "domain", "add", domain)
    check(stage(s, domain, 1).returncode == 0)
    stsctl(s, "policy", "confirm", domain, "--version", "1", "--reason", "test")
    served = served_id(s, domain)
    check(served, f"no id served for {domain}")
    return served


def confirmed_then_stopped(s, domain):
    """Starts `s`, adds `domain` with version 1 confirmed, stops it; returns the id served."""
    s.start()
    served = add_confirmed(s, domain)
    stop_cleanly(s)
    return served


def store_line(s):
    """stsctl version's line about the store."""
    out = stsctl(s, "version").stdout
    lines = [line for line in out.splitlines() if line.startswith("store:")]
    check(lines, f"stsctl version says nothing about the store:\n{out}")
    return "\n".join(lines)


def sample(s, name):
    return metrics(s.metrics_port).get(name)


def alive(s):
    check(s.proc.poll() is None, f"stsd exited with {s.proc.returncode}:\n{s.read_log()[-3000:]}")


def fill_until_refused(s, domain, first):
    """Stages until a stage is refused; checks that DNS answers the same id after every
    stage and that stsd lives. Returns (last acknowledged version, the refusal)."""
    served = served_id(s, domain)
    acknowledged = None
    for n in range(first, first + MAX_STAGES):
        p = stage(s, domain, n)
        alive(s)
        check(served_id(s, domain) == served, "DNS must keep answering the confirmed id")
        if p.returncode != 0:
            return acknowledged, p.stderr
        acknowledged = staged_number(p.stdout)
    raise TestFailure(f"{MAX_STAGES} stages and the store never refused one")


def expect_refused(s, domain, n, *phrases):
    p = stage(s, domain, n)
    check(p.returncode == 1, f"a stage was accepted: {p.stdout}")
    for phrase in phrases:
        check(phrase in p.stderr, f"'{phrase}' not in the refusal: {p.stderr}")


def stop_cleanly(s):
    code = s.stop()
    check(code == 0, f"stsd exited with {code} (134 is SIGABRT):\n{s.read_log()[-3000:]}")


def restart_expecting_failure(s):
    s.wait = False
    s.start()
    try:
        code = s.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise TestFailure("stsd started on a damaged store")
    finally:
        s.wait = True
    check(code == 1, f"stsd exited with {code}, expected 1:\n{s.read_log()[-3000:]}")


# --- the tests ---------------------------------------------------------------------------

def test_disk_full_refuses_writes_keeps_answering_and_resumes():
    """RocksDB meets ENOSPC itself (storage_min_free_mib 0): the write that fails is
    refused, the ones after it never reach RocksDB (a write after a failed WAL append
    tripped an assertion and aborted stsd), and freeing space brings writes back.
    RocksDB preallocates its write-ahead log (17.6 MiB here) when there is room: the disk
    is filled before the start, so that the stages below use up the last of it."""
    s = server(min_free_mib=0, tmpfs_mib=24)
    try:
        served = confirmed_then_stopped(s, "full.test")
        s.tmpfs.fill(leave=256 << 10)
        s.start()
        acknowledged, refusal = fill_until_refused(s, "full.test", 2)
        check("No space left on device" in refusal and "nothing changed" in refusal, refusal)
        check(staged_version(s, "full.test") == acknowledged, "the refused write left nothing behind")
        for n in range(5):
            expect_refused(s, "full.test", 10000 + n, "refuses writes", "No space left on device")
            alive(s)
            check(served_id(s, "full.test") == served)
        check("REFUSES WRITES" in store_line(s), store_line(s))
        check(sample(s, "stsd_store_writable") == 0 and sample(s, "stsd_store_failed_writes_total") == 1,
              "one write reached RocksDB and failed; the later ones were refused before it")
        time.sleep(1.5)  # the store's own attempts to recover meanwhile must not abort it either
        alive(s)

        s.tmpfs.empty()
        wait_until(lambda: stage(s, "full.test", 20000).returncode == 0, 20, "writes to resume")
        check(staged_version(s, "full.test") == acknowledged + 1, "versions go on from the last acknowledged one")
        check("accepts writes" in store_line(s), store_line(s))
        check(sample(s, "stsd_store_writable") == 1 and sample(s, "stsd_store_recoveries_total") == 1)
        stop_cleanly(s)

        s.start()
        check(staged_version(s, "full.test") == acknowledged + 1, "every acknowledged write survived")
        for version in (acknowledged, acknowledged + 1):
            stsctl(s, "policy", "show", "full.test", "--version", str(version))
        check(served_id(s, "full.test") == served)
        stop_cleanly(s)
    finally:
        finish(s)


def test_min_free_refuses_writes_before_the_disk_is_full():
    """Another program fills the disk: below storage_min_free_mib writes are refused while
    RocksDB still has room, so it never meets an I/O error, and they are accepted again as
    soon as there is space."""
    s = server(min_free_mib=4, tmpfs_mib=48)
    try:
        s.start()
        served = add_confirmed(s, "headroom.test")
        check(stage(s, "headroom.test", 2).returncode == 0)
        acknowledged = staged_version(s, "headroom.test")
        s.tmpfs.fill(leave=(3 << 20) + (512 << 10))
        expect_refused(s, "headroom.test", 3, "refuses writes", "storage_min_free_mib", "nothing changed")
        check(s.tmpfs.free() > (3 << 20), "refused with room to spare")
        check(staged_version(s, "headroom.test") == acknowledged)
        check(sample(s, "stsd_store_failed_writes_total") == 0, "RocksDB never failed a write")
        check(sample(s, "stsd_store_refused_writes_total") >= 1 and sample(s, "stsd_store_writable") == 0)
        check(served_id(s, "headroom.test") == served)

        s.tmpfs.empty()
        check(stage(s, "headroom.test", 30000).returncode == 0, "accepted as soon as there is room")
        check(staged_version(s, "headroom.test") == acknowledged + 1)
        stop_cleanly(s)
    finally:
        finish(s)


# What makes the file system refuse writes before a start, what cures it, and what the
# store says meanwhile (in its refusals and in stsctl version).
START_FAULTS = [
    ("a full disk", lambda disk: disk.fill(leave=0), lambda disk: disk.empty(),
     "opened read-only: the file system of"),
    ("a read-only mount", lambda disk: disk.remount("ro"), lambda disk: disk.remount("rw"),
     "Read-only file system"),
]


def test_start_on_a_disk_refusing_writes_serves_read_only_and_recovers():
    for name, cause, cure, said in START_FAULTS:
        s = server(min_free_mib=2, tmpfs_mib=24)
        try:
            served = confirmed_then_stopped(s, "readonly.test")
            cause(s.tmpfs)

            s.start()  # waits until DNS answers
            check(served_id(s, "readonly.test") == served, f"{name}: DNS serves what is on disk")
            check("READ-ONLY" in s.read_log(), f"{name}: the log says the store is read-only")
            line = store_line(s)
            check("REFUSES WRITES" in line and said in line, f"{name}: {line}")
            check(sample(s, "stsd_store_read_only") == 1 and sample(s, "stsd_store_writable") == 0, name)
            expect_refused(s, "readonly.test", 2, "refuses writes", said)
            check(staged_version(s, "readonly.test") == 1, name)

            cure(s.tmpfs)
            # No write needed: the store recovers by itself, without a restart, and says so.
            wait_until(lambda: "accepts writes" in store_line(s), 20, f"{name}: the store to accept writes again")
            check(sample(s, "stsd_store_read_only") == 0 and sample(s, "stsd_store_recoveries_total") == 1, name)
            check(stage(s, "readonly.test", 2).returncode == 0, name)
            check(staged_version(s, "readonly.test") == 2 and served_id(s, "readonly.test") == served, name)
            stop_cleanly(s)
            s.start()
            check(staged_version(s, "readonly.test") == 2, f"{name}: the write after recovering is durable")
            stop_cleanly(s)
        finally:
            finish(s)


def table_files(s):
    """The store's table files, oldest first (RocksDB numbers its files in order)."""
    folder = os.path.join(s.dir, "store", "db")
    return [os.path.join(folder, f) for f in sorted(f for f in os.listdir(folder) if f.endswith(".sst"))]


def overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


# A table file ends in its metaindex block and a 53-byte footer; opening it reads and
# checks both (and the index, filter and properties blocks they point to).
FOOTER = 53


def test_damaged_table_file_stops_the_start_naming_it():
    s = server(min_free_mib=0)
    try:
        s.start()
        for i in range(50):
            stsctl(s, "domain", "add", f"d{i}.damaged.test")
        stop_cleanly(s)  # flushes the memtable into a table file
        tables = table_files(s)
        check(tables, "no table file was written")
        damaged = tables[-1]
        overwrite(damaged, os.path.getsize(damaged) - FOOTER - 16, b"\xde\xad\xbe\xef" * 4)

        restart_expecting_failure(s)
        log = s.read_log()
        check(damaged in log and "the store is damaged" in log, f"the message names {damaged}:\n{log[-2000:]}")
        check("restore it from a backup" in log, f"the message says the way out:\n{log[-2000:]}")
    finally:
        finish(s)


def expect_damage_refused(s, damaged, n):
    refused = stage(s, "kept.test", n)
    check(refused.returncode == 1, f"a write was accepted: {refused.stdout}")
    for phrase in ("refuses writes (nothing changed)", "the checksum verification found damage in " + damaged,
                   "restore it from a backup (docs/backups.md)"):
        check(phrase in refused.stderr, f"'{phrase}' not in the refusal: {refused.stderr}")
    check("resume by themselves" not in refused.stderr, refused.stderr)


def wait_for_damage(s, damaged):
    line = wait_until(lambda: (lambda text: "checksums: DAMAGED" in text and text)(store_line(s)), 30,
                      "the background checksum verification to find the damage")
    check(damaged in line and "REFUSES WRITES" in line, line)


def test_damaged_versions_are_served_and_refuse_writes_until_a_restart():
    """A table file of policy versions (none of them what DNS answers) damaged while stsd
    is stopped: it starts and answers DNS without waiting for the checksum verification,
    which then finds the damage in the background; writes are refused from then on, naming
    the file and the way out. It does not heal: the recovery that makes writes resume once
    a read-only file system is writable again leaves it refused."""
    s = server(min_free_mib=0, tmpfs_mib=64)
    try:
        served = confirmed_then_stopped(s, "kept.test")  # table file 1: the served record
        s.start()
        stsctl(s, "domain", "add", "history.test")
        for n in range(1, 121):  # table file 2: mostly versions of history.test (~1 KiB each)
            check(stage(s, "history.test", n).returncode == 0)
        stop_cleanly(s)
        tables = table_files(s)
        check(len(tables) == 2, f"two table files: {tables}")
        damaged = tables[-1]
        # Its keys in order: the domain record, events, the served record, then the versions,
        # most of the file: 60 % into it is a block of versions.
        overwrite(damaged, os.path.getsize(damaged) * 6 // 10, b"\xde\xad\xbe\xef" * 4)
        with open(damaged, "rb") as f:
            damaged_bytes = f.read()

        s.start()  # waits until DNS answers
        check(served_id(s, "kept.test") == served, "DNS answers what is on disk")
        check(served_id(s, "history.test") is None, "nothing confirmed for history.test: no id")
        wait_for_damage(s, damaged)
        expect_damage_refused(s, damaged, 9000)
        log = s.read_log()
        check("[error] store: the checksum verification found damage in " + damaged in log, log[-3000:])
        check(sample(s, "stsd_store_checksums_damaged") == 1 and sample(s, "stsd_store_writable") == 0)
        check(served_id(s, "kept.test") == served, "DNS keeps answering")
        stop_cleanly(s)

        # On a read-only mount: read-only, then damaged; made writable, the store reopens
        # for nothing (the damage outlasts it) and the refusal stays.
        s.tmpfs.remount("ro")
        s.start()
        check(served_id(s, "kept.test") == served, "DNS answers from the read-only store")
        check(sample(s, "stsd_store_read_only") == 1, "opened read-only")
        wait_for_damage(s, damaged)
        s.tmpfs.remount("rw")
        time.sleep(3.5)  # the recovery of a read-only start retries 1 s, then 2 s, apart
        expect_damage_refused(s, damaged, 9001)
        check(sample(s, "stsd_store_recoveries_total") == 0 and sample(s, "stsd_store_read_only") == 1 and
              sample(s, "stsd_store_writable") == 0, "no reopen was tried for damage")
        check(served_id(s, "kept.test") == served, "DNS keeps answering")
        stop_cleanly(s)
        with open(damaged, "rb") as f:
            check(f.read() == damaged_bytes, "the damaged file was left as it was")
    finally:
        finish(s)


def test_torn_wal_tail_is_reported_loudly():
    s = server(min_free_mib=0)
    try:
        s.start()
        stsctl(s, "domain", "add", "kept.torn.test")
        stsctl(s, "domain", "add", "cut.torn.test")  # the last write: its record is torn below
        s.stop(signal.SIGKILL)  # nothing flushed: both writes are in the write-ahead log only
        folder = os.path.join(s.dir, "store", "db")
        wal = os.path.join(folder, max(f for f in os.listdir(folder) if f.endswith(".log")))
        os.truncate(wal, os.path.getsize(wal) - 20)

        s.start()
        log = s.read_log()
        check("torn record" in log and wal in log, f"the log names the torn log file:\n{log[-3000:]}")
        check("dropped a torn record" in store_line(s), store_line(s))
        check(sample(s, "stsd_store_torn_wal") == 1)
        domains = stsctl(s, "domain", "list").stdout
        check("kept.torn.test" in domains and "cut.torn.test" not in domains, domains)
        stop_cleanly(s)
    finally:
        finish(s)


def test_store_files_are_the_owners_alone():
    os.umask(0o022)  # what stsd is usually started with: it must not decide the store's modes
    s = server(min_free_mib=0)
    try:
        s.start()
        stsctl(s, "domain", "add", "modes.test")
        folder = os.path.join(s.dir, "store", "db")

        def modes():
            files = {f: os.stat(os.path.join(folder, f)).st_mode & 0o777 for f in os.listdir(folder)
                     if os.path.isfile(os.path.join(folder, f))}
            return os.stat(folder).st_mode & 0o777, files

        folder_mode, files = modes()
        check(folder_mode == 0o700, f"folder {oct(folder_mode)}")
        check(files and all(mode == 0o600 for mode in files.values()), files)
        stop_cleanly(s)

        # A store an older stsd left readable is made private at the next start.
        os.chmod(folder, 0o755)
        for f in modes()[1]:
            os.chmod(os.path.join(folder, f), 0o644)
        s.start()
        folder_mode, files = modes()
        check(folder_mode == 0o700 and all(mode == 0o600 for mode in files.values()), (oct(folder_mode), files))
        check("readable by other users" in s.read_log())
        stop_cleanly(s)
    finally:
        finish(s)


if __name__ == "__main__":
    run_tests(None, [
        test_disk_full_refuses_writes_keeps_answering_and_resumes,
        test_min_free_refuses_writes_before_the_disk_is_full,
        test_start_on_a_disk_refusing_writes_serves_read_only_and_recovers,
        test_damaged_table_file_stops_the_start_naming_it,
        test_damaged_versions_are_served_and_refuse_writes_until_a_restart,
        test_torn_wal_tail_is_reported_loudly,
        test_store_files_are_the_owners_alone,
    ])
