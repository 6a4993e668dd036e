"""Online backups and restoring them (issue 16; docs/backups.md), with the real stsd and
stsctl, running the shell blocks of docs/backups.md exactly as they are written there.

- Under writes: a writer keeps changing the store of stsd A (a `policies:` folder synced
  on SIGHUP by stsd's main thread, so those writes run while a backup runs on the admin
  thread; domains added each round; confirmations through the admin API) while the
  backup command runs again and again. Each backup is restored on another stsd instance
  with the documented commands; it must hold exactly the state after one write of the
  writer's sequence (a prefix: every domain, its staged and confirmed version numbers, the
  staged policy, and the id it serves compared with the id A served right after that
  confirmation, in the same rotation period), within the writes made while the backup
  ran; at least one backup must fall inside a sync (some domains from one round, the
  rest from the round before), or the test did not test what it says.
- Folders a backup must refuse (relative through the API, missing parent, not empty, a
  file, inside the store); an empty folder and a relative path through stsctl work.
- As root (CI): a target file system that is full (checked before copying, and running
  out while copying) or read-only: a clear error and nothing named DIR, nor a partial
  folder, left behind. The mounts are private: as root the script runs itself again
  under `unshare --mount --propagation private`.
"""
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

_PRIVATE = "STSD_E2E_PRIVATE_MOUNTS"
if os.geteuid() == 0 and os.environ.get(_PRIVATE) != "1":
    os.environ[_PRIVATE] = "1"
    try:
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv])
    except OSError as error:
        print(f"no private mount namespace ({error}): the full and read-only target tests are skipped")
        os.environ[_PRIVATE] = "0"

from harness import SOURCE_DIR, STSD_BIN, Stsd, TestFailure, check, kdig, run_tests  # noqa: E402

CAN_MOUNT = os.geteuid() == 0 and os.environ.get(_PRIVATE) == "1"

MTASTS = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
"""
CONFIG_WRITTEN = "storage: {dir}/db\npolicies: {dir}/policies\nadmin: { socket: {dir}/stsd.sock }\n" + MTASTS
CONFIG_RESTORED = "storage: {dir}/db\nadmin: { socket: {dir}/stsd.sock }\n" + MTASTS

ROUNDS = 8            # syncs of the policies folder
FIRST_DOMAINS = 80    # files in the first round
NEW_PER_ROUND = 8     # files added by each later round
CONFIRMS_PER_ROUND = 4
MIN_BACKUPS = 4


# --- docs/backups.md -------------------------------------------------------------------

def doc_blocks():
    """The shell blocks docs/backups.md marks as run by this test, by name."""
    with open(os.path.join(SOURCE_DIR, "docs", "backups.md")) as f:
        text = f.read()
    blocks = {m.group(1): textwrap.dedent(m.group(2)) for m in re.finditer(
        r"<!-- run by e2e_backup_restore: (\w+) -->\s*```sh\n(.*?)```", text, re.S)}
    check(set(blocks) == {"backup", "restore", "check"}, f"docs/backups.md marks {sorted(blocks)}")
    return blocks


BLOCKS = doc_blocks()


def run_block(name, socket_path=None, backup=None, storage=None, expect_rc=0):
    env = dict(os.environ)
    env["PATH"] = STSD_BIN + os.pathsep + env.get("PATH", "")
    for key, value in (("STSD_SOCKET", socket_path), ("BACKUP", backup), ("STORAGE", storage)):
        if value is not None:
            env[key] = value
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", BLOCKS[name]], capture_output=True, text=True,
                       env=env, timeout=120)
    if expect_rc is not None and p.returncode != expect_rc:
        raise TestFailure(f"docs/backups.md block '{name}' exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


BACKUP_LINE = re.compile(r"backup written to (\S+): (\d+) domains, events up to (\d+), (\d+) bytes in (\d+) files")


# --- the admin API over its unix socket -------------------------------------------------

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.socket_path)


def api(server, method, target, body=None):
    """(status, JSON answer) of one admin API request to `server`."""
    connection = UnixConnection(os.path.join(server.dir, "stsd.sock"))
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, target, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        connection.close()


def api_ok(server, method, target, body=None):
    status, answer = api(server, method, target, body)
    check(200 <= status < 300, f"{method} {target}: {status} {answer}")
    return answer


def leftovers(directory, store):
    """What a failed backup must not leave: partial folders next to DIR, staging in the store."""
    partial = [n for n in os.listdir(directory) if n.endswith(".stsd-backup-partial")]
    staging = [n for n in os.listdir(store) if n.startswith("stsd-backup-staging")]
    return partial + staging


# --- the writer: its writes in the order stsd makes them --------------------------------

def policy_file(round_number):
    # A policy of its own each round: every sync stages a new version of every file.
    return (f"mode: enforce\nmx: [mx-r{round_number}.example.test]\nmax_age: {86400 + round_number}\n")


class Writer:
    """Writes rounds into A's policies folder and confirms through the admin API. `ops` is
    its writes in stsd's order: ("add", d), ("stage", d, max_age), ("confirm", d, version,
    id, next_rotation); `done` counts the writes known to be acknowledged, `begun` those
    that may have started."""

    def __init__(self, server):
        self.server = server
        self.folder = os.path.join(server.dir, "policies")
        self.ops = []
        self.done = 0
        self.begun = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.sync_ranges = []  # (first op, end op) of each sync
        self.domains = []
        self.versions = {}
        self.error = None
        # Set by the test once it has its backups: until then the writer goes on past ROUNDS
        # (up to 3 x ROUNDS), so that a slow disk still sees enough backups under writes.
        self.enough_backups = threading.Event()

    def counts(self):
        with self.lock:
            return self.done, self.begun

    def run(self):
        try:
            rng = random.Random(16)
            for round_number in range(1, 3 * ROUNDS + 1):
                if round_number > ROUNDS and self.enough_backups.is_set():
                    break
                self.sync_round(round_number)
                for domain in rng.sample(self.domains, CONFIRMS_PER_ROUND):
                    self.confirm(domain)
        except Exception as error:  # reported by the test's thread
            self.error = error
        finally:
            self.finished.set()

    def sync_round(self, round_number):
        count = FIRST_DOMAINS if round_number == 1 else NEW_PER_ROUND
        new = [f"b{len(self.domains) + i:04d}.example.test" for i in range(count)]
        self.domains += new
        for domain in self.domains:
            path = os.path.join(self.folder, domain + ".yaml")
            with open(path + ".tmp", "w") as f:
                f.write(policy_file(round_number))
            os.replace(path + ".tmp", path)
        ops = []
        for domain in sorted(self.domains, key=lambda d: d + ".yaml"):  # the files' order (sorted paths)
            if domain in new:
                ops.append(("add", domain))
            ops.append(("stage", domain, 86400 + round_number))
            self.versions[domain] = self.versions.get(domain, 0) + 1
        summary = f"policies: {self.folder}: "
        before = self.server.read_log().count(summary)
        with self.lock:
            first = len(self.ops)
            self.ops += ops
            self.begun = len(self.ops)
        self.server.signal(signal.SIGHUP)
        deadline = time.time() + 60
        while self.server.read_log().count(summary) == before:
            check(time.time() < deadline, "the policies folder was not synced within 60 s")
            time.sleep(0.02)
        line = [l for l in self.server.read_log().splitlines() if summary in l][-1]
        check(f"{len(self.domains)} files, {count} domains added, 0 settings updated, {len(self.domains)} staged"
              in line, f"round {round_number}: {line}")
        with self.lock:
            self.done = len(self.ops)
        self.sync_ranges.append((first, len(self.ops)))

    def confirm(self, domain):
        version = self.versions[domain]
        with self.lock:
            self.begun = len(self.ops) + 1
        status = api_ok(self.server, "POST", f"/v1/domains/{domain}/confirm",
                        {"version": version, "reason": "backup test"})
        with self.lock:
            self.ops.append(("confirm", domain, version, status["served_id"], status["next_rotation"]))
            self.done = len(self.ops)


def state_after(ops, count):
    """Each domain's expected state after the first `count` writes."""
    state = {}
    for op in ops[:count]:
        apply_op(state, op)
    return state


def apply_op(state, op):
    if op[0] == "add":
        state[op[1]] = {"staged": None, "max_age": None, "confirmed": None, "id": None}
    elif op[0] == "stage":
        entry = state[op[1]]
        entry["staged"] = (entry["staged"] or 0) + 1
        entry["max_age"] = op[2]
    else:
        state[op[1]].update(confirmed=op[2], id=(op[3], op[4]))


def comparable(state):
    return {d: (e["staged"], e["max_age"], e["confirmed"]) for d, e in state.items()}


def restored_state(server):
    """What a restored stsd holds: each domain's staged and confirmed versions, the staged
    policy's max_age, and for confirmed domains the id served now and the next rotation."""
    listing = api_ok(server, "GET", "/v1/domains?limit=10000")
    state = {}
    for entry in listing["domains"]:
        domain = entry["domain"]
        staged = entry["staged"]
        max_age = api_ok(server, "GET", f"/v1/domains/{domain}/policies/{staged}")["max_age"] if staged else None
        served = None
        if entry["confirmed"] is not None:
            status = api_ok(server, "GET", f"/v1/domains/{domain}/status")
            served = (status["served_id"], status["next_rotation"])
        state[domain] = {"staged": staged, "max_age": max_age, "confirmed": entry["confirmed"], "id": served}
    return state


def matching_prefix(ops, restored, lo, hi):
    """The write counts in lo..hi after which the expected state equals `restored`."""
    state = state_after(ops, lo)
    want = comparable(restored)
    found = []
    for count in range(lo, hi + 1):
        if count > lo:
            apply_op(state, ops[count - 1])
        if comparable(state) == want:
            found.append(count)
    return found, state_after(ops, found[-1]) if found else None


def restore_and_check(backup, ops, sync_ranges):
    """Restores `backup` (dict from the backup thread) on a new stsd with the documented
    commands and checks it against the writer's sequence. Returns (the prefix, whether it
    fell inside a sync, ids compared, ids in another period)."""
    b = Stsd(CONFIG_RESTORED)
    run_block("restore", backup=backup["dir"], storage=os.path.join(b.dir, "db"))
    with b:
        version = run_block("check", socket_path=os.path.join(b.dir, "stsd.sock")).stdout
        check(f", {backup['domains']} domains)" in version, f"stsctl version after the restore: {version}")
        restored = restored_state(b)
        found, expected = matching_prefix(ops, restored, backup["lo"], backup["hi"])
        check(found, f"backup {backup['dir']} (writes {backup['lo']}..{backup['hi']}) holds no prefix of the "
                     f"writes: {len(restored)} domains")
        count = found[-1]
        check(len(restored) == backup["domains"], f"stsctl backup said {backup['domains']} domains, the restore "
                                                  f"holds {len(restored)}")
        compared = other_period = 0
        confirmed = sorted(d for d, e in expected.items() if e["confirmed"] is not None)
        for domain in confirmed:
            recorded_id, recorded_rotation = expected[domain]["id"]
            served_id, next_rotation = restored[domain]["id"]
            if next_rotation != recorded_rotation:
                other_period += 1  # the domain's rotation boundary passed since A served it
                continue
            check(served_id == recorded_id, f"{domain}: the restored stsd serves id {served_id}, A served "
                                            f"{recorded_id} after that confirmation")
            compared += 1
        for domain in confirmed[:3]:  # and DNS answers with it
            record = kdig(b, f"_mta-sts.{domain}", "TXT").rdatas("TXT")
            check(record == [f'"v=STSv1; id={restored[domain]["id"][0]};"'], f"{domain}: {record}")
        inside = any(first < count < end for first, end in sync_ranges)
    return count, inside, compared, other_period


# --- the tests ---------------------------------------------------------------------------

def test_backups_under_writes_restore_to_a_prefix():
    a = Stsd(CONFIG_WRITTEN)
    os.makedirs(os.path.join(a.dir, "policies"))
    os.makedirs(os.path.join(a.dir, "backups"))
    with a:
        writer = Writer(a)
        backups = []
        thread = threading.Thread(target=writer.run)
        thread.start()
        try:
            while not writer.finished.is_set():
                lo, _ = writer.counts()
                path = os.path.join(a.dir, "backups", f"b{len(backups):02d}")
                out = run_block("backup", socket_path=os.path.join(a.dir, "stsd.sock"), backup=path).stdout
                _, hi = writer.counts()
                m = BACKUP_LINE.search(out)
                check(m and m.group(1) == path, f"stsctl backup printed: {out}")
                backups.append({"dir": path, "domains": int(m.group(2)), "event_seq": int(m.group(3)),
                                "lo": lo, "hi": hi})
                # Enough once one of them may have caught a sync half way (under load the
                # first few can all fall between syncs; the writer runs up to 3 x ROUNDS).
                overlapping = any(b["lo"] < end and b["hi"] > first
                                  for b in backups for first, end in list(writer.sync_ranges))
                if len(backups) >= MIN_BACKUPS and overlapping:
                    writer.enough_backups.set()
                time.sleep(0.2)
        finally:
            thread.join()
        if writer.error:
            raise writer.error
        check(len(backups) >= MIN_BACKUPS, f"only {len(backups)} backups while the writer ran")
        seqs = [b["event_seq"] for b in backups]
        check(seqs == sorted(seqs), f"event sequences of successive backups went back: {seqs}")
        check(not leftovers(os.path.join(a.dir, "backups"), os.path.join(a.dir, "db")), "a backup left a folder")

    results = [restore_and_check(backup, writer.ops, writer.sync_ranges) for backup in backups]
    inside = sum(1 for _, mid, _, _ in results if mid)
    compared = sum(r[2] for r in results)
    other = sum(r[3] for r in results)
    print(f"{len(backups)} backups of {len(writer.ops)} writes; prefixes {[r[0] for r in results]}; "
          f"{inside} inside a sync; ids compared {compared}, in another rotation period {other}")
    check(inside >= 1, "no backup fell inside a sync of the policies folder: the writes did not overlap a backup")
    check(compared >= 10 and other <= compared // 4, f"ids compared {compared}, in another period {other}")


def test_refused_folders_leave_nothing():
    config = "storage: {dir}/db\nadmin: { socket: {dir}/stsd.sock }\n" + MTASTS
    with Stsd(config) as s:
        api_ok(s, "POST", "/v1/domains", {"domain": "kept.example.test"})
        store = os.path.join(s.dir, "db")
        full = os.path.join(s.dir, "full")
        os.makedirs(full)
        with open(os.path.join(full, "keep.txt"), "w") as f:
            f.write("mine\n")
        a_file = os.path.join(s.dir, "a-file")
        open(a_file, "w").close()
        cases = [
            ("relative/backup", 400, "not an absolute path"),
            (os.path.join(s.dir, "missing", "backup"), 400, "does not exist (create it first)"),
            (full, 409, "exists and is not empty"),
            (a_file, 400, "exists and is not a folder"),
            (os.path.join(store, "inner"), 400, "inside the store's folder"),
            (store, 400, "inside the store's folder"),
            ("/", 400, "the root folder"),
        ]
        for dir_, status, words in cases:
            got, answer = api(s, "POST", "/v1/backup", {"dir": dir_})
            check(got == status and words in answer["error"], f"{dir_}: {got} {answer}")
            check(not leftovers(s.dir, store), f"{dir_}: left {leftovers(s.dir, store)}")
        check(os.listdir(full) == ["keep.txt"], "the non-empty folder was changed")
        got, answer = api(s, "POST", "/v1/backup", {"folder": "/tmp/x"})
        check(got == 400 and "unknown field" in answer["error"], f"{got} {answer}")

        p = s.run("stsctl", "--socket", os.path.join(s.dir, "stsd.sock"), "backup", full, check_rc=False)
        check(p.returncode == 1 and "exists and is not empty" in p.stderr, f"{p.returncode} {p.stderr}")

        # stsctl makes a relative path absolute against its working directory (s.dir).
        p = s.run("stsctl", "--socket", os.path.join(s.dir, "stsd.sock"), "backup", "relative-backup")
        check(f"backup written to {os.path.join(s.dir, 'relative-backup')}: 1 domains" in p.stdout, p.stdout)
        empty = os.path.join(s.dir, "empty")
        os.makedirs(empty)
        answer = api_ok(s, "POST", "/v1/backup", {"dir": empty + "/"})
        check(answer["dir"] == empty and answer["domains"] == 1 and answer["files"] >= 3, answer)
        check(os.path.exists(os.path.join(empty, "CURRENT")), os.listdir(empty))
        check(oct(os.stat(empty).st_mode & 0o777) == "0o700", oct(os.stat(empty).st_mode))
        check(not leftovers(s.dir, store), leftovers(s.dir, store))


def mount_tmpfs(path, options):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], capture_output=True, text=True)
    check(p.returncode == 0, f"mount {path}: {p.stderr}")


def fill(path, leave):
    """Takes the free space of the file system at `path` down to about `leave` bytes."""
    with open(os.path.join(path, "filler"), "ab") as f:
        while True:
            info = os.statvfs(path)
            free = info.f_bavail * info.f_frsize
            if free <= leave:
                return
            try:
                f.write(b"\0" * min(64 << 10, max(4096, free - leave)))
                f.flush()
            except OSError:
                return


def test_full_or_read_only_target_leaves_nothing():
    if not CAN_MOUNT:
        print("SKIP test_full_or_read_only_target_leaves_nothing: mounting a tmpfs needs root")
        return
    config = "storage: {dir}/db\nadmin: { socket: {dir}/stsd.sock }\n" + MTASTS
    with Stsd(config) as s:
        store = os.path.join(s.dir, "db")
        rows = "domain,mode,mx,max_age\n" + "".join(f"f{i:04d}.example.test,enforce,mx.example.test,86400\n"
                                                   for i in range(300))
        with open(os.path.join(s.dir, "domains.csv"), "w") as f:
            f.write(rows)
        s.run("stsctl", "--socket", os.path.join(s.dir, "stsd.sock"), "import", "domains.csv")
        size = api_ok(s, "POST", "/v1/backup", {"dir": os.path.join(s.dir, "sized")})["bytes"]

        small = os.path.join(s.dir, "small")
        mount_tmpfs(small, "size=64k,mode=0755")
        got, answer = api(s, "POST", "/v1/backup", {"dir": os.path.join(small, "b")})
        check(got == 507 and "free, the backup needs" in answer["error"], f"{got} {answer}")
        check(os.listdir(small) == [] and not leftovers(small, store), os.listdir(small))

        # Room for the bytes, not for the files' last pages: the copy itself runs out.
        tight = os.path.join(s.dir, "tight")
        mount_tmpfs(tight, f"size={size + (256 << 10)},mode=0755")
        fill(tight, size + 6144)  # free ends between size + 2 KiB and size + 6 KiB
        got, answer = api(s, "POST", "/v1/backup", {"dir": os.path.join(tight, "b")})
        check(got == 507 and ("No space left on device" in answer["error"] or "the backup needs" in answer["error"]),
              f"{got} {answer}")
        print(f"a target with room for {size} bytes but not for the files' last pages: {answer['error']}")
        check(os.listdir(tight) == ["filler"] and not leftovers(tight, store), os.listdir(tight))
        os.remove(os.path.join(tight, "filler"))
        answer = api_ok(s, "POST", "/v1/backup", {"dir": os.path.join(tight, "b")})
        check(answer["domains"] == 300, answer)

        read_only = os.path.join(s.dir, "ro")
        mount_tmpfs(read_only, "size=16m,mode=0755,ro")
        p = s.run("stsctl", "--socket", os.path.join(s.dir, "stsd.sock"), "backup", os.path.join(read_only, "b"),
                  check_rc=False)
        check(p.returncode == 1 and "Read-only file system" in p.stderr, f"{p.returncode} {p.stderr}")
        check(os.listdir(read_only) == [] and not leftovers(read_only, store), os.listdir(read_only))
        check("backup to " in s.read_log() and "Read-only file system" in s.read_log(), "the failure is logged")
        for mount in (small, tight, read_only):
            subprocess.run(["umount", "-l", mount], capture_output=True)


if __name__ == "__main__":
    only = sys.argv[1:]
    tests = [test_refused_folders_leave_nothing, test_full_or_read_only_target_leaves_nothing,
             test_backups_under_writes_restore_to_a_prefix]
    run_tests(None, [t for t in tests if not only or t.__name__ in only])
