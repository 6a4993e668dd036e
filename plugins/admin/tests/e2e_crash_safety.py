"""Crash safety: writers drive a burst of admin writes (add, stage, confirm) through
stsctl while stsd is killed with SIGKILL at a random moment. After a restart, every write
that was acknowledged (stsctl exited 0) is there, every confirmed pointer names a
version that exists, and DNS serves the id of that version. Several rounds on one store;
the restarted server also has to replace the socket file the killed one left behind."""
import json
import os
import random
import signal
import subprocess
import threading
import time

from admin_e2e import CONFIG, served_id, stsctl_path
from harness import Stsd, TestFailure, check, free_port, run_tests

ROUNDS = int(os.environ.get("STSD_E2E_CRASH_ROUNDS", "4"))
WRITERS = 3
SEED = int(os.environ.get("STSD_E2E_SEED", str(int(time.time()))))


def run_stsctl(workdir, *args, timeout=60):
    p = subprocess.run([stsctl_path(), "--json", *args], capture_output=True, text=True, cwd=workdir, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Writer(threading.Thread):
    """Adds domains, stages versions and confirms them, one stsctl call at a time,
    recording each acknowledged write; stops at the first failure (the server died)."""

    def __init__(self, workdir, name_prefix, rng, stop_at):
        super().__init__(daemon=True)
        self.workdir = workdir
        self.prefix = name_prefix
        self.rng = rng
        self.stop_at = stop_at
        self.acknowledged = []      # ("added", domain) / ("staged", domain, n) / ("confirmed", domain, n)
        self.domains = []
        self.error = None

    def call(self, *args):
        rc, out, err = run_stsctl(self.workdir, *args)
        if rc == 0:
            return json.loads(out)
        if rc == 1 and ("cannot connect" in err or "failed" in err or "did not answer" in err):
            return None             # the server is gone: not acknowledged
        raise TestFailure(f"stsctl {' '.join(args)} exited {rc}: {err}")

    def run(self):
        try:
            self.loop()
        except Exception as error:   # reported by the test
            self.error = error

    def loop(self):
        for step in range(100000):
            if time.time() > self.stop_at:
                return
            if not self.domains or self.rng.random() < 0.3:
                domain = f"{self.prefix}-{step}.crash.example"
                if self.call("domain", "add", domain) is None:
                    return
                self.domains.append(domain)
                self.acknowledged.append(("added", domain))
                continue
            domain = self.rng.choice(self.domains)
            mx = f"mx{step}.{domain}"
            staged = self.call("policy", "stage", domain, "--mode", "enforce", "--mx", mx, "--max-age", "604800")
            if staged is None:
                return
            self.acknowledged.append(("staged", domain, staged["version"]))
            if self.rng.random() < 0.6:
                confirmed = self.call("policy", "confirm", domain, "--version", str(staged["version"]),
                                      "--reason", f"crash test step {step}")
                if confirmed is None:
                    return
                self.acknowledged.append(("confirmed", domain, staged["version"]))


def verify(server, acknowledged):
    rc, out, err = run_stsctl(server.dir, "domain", "list")
    check(rc == 0, err)
    listed = {d["domain"]: d for d in json.loads(out)["domains"]}
    for entry in acknowledged:
        kind, domain = entry[0], entry[1]
        check(domain in listed, f"acknowledged {entry} but {domain} is gone after the crash")
        if kind == "staged":
            check(listed[domain]["staged"] >= entry[2], f"acknowledged {entry}, store has {listed[domain]}")
            rc, out, err = run_stsctl(server.dir, "policy", "show", domain, "--version", str(entry[2]))
            check(rc == 0, f"acknowledged {entry} but version {entry[2]} is unreadable: {err}")
        if kind == "confirmed":
            check(listed[domain]["confirmed"] is not None and listed[domain]["confirmed"] >= entry[2],
                  f"acknowledged {entry}, store has {listed[domain]}")
    # Every confirmed pointer names an existing version, and DNS serves its id.
    for domain, summary in listed.items():
        rc, out, err = run_stsctl(server.dir, "status", domain)
        check(rc == 0, err)
        status = json.loads(out)
        confirmed = status["confirmed"]
        if confirmed is None:
            check(status["served_id"] is None and served_id(server, domain) is None, status)
            continue
        rc, out, err = run_stsctl(server.dir, "policy", "show", domain, "--version", str(confirmed["version"]))
        check(rc == 0, f"{domain}: confirmed version {confirmed['version']} does not exist: {err}")
        check(status["staged"]["version"] >= confirmed["version"], status)
        dns_id = served_id(server, domain)
        check(dns_id == status["served_id"] and f"v{confirmed['version']}d" in dns_id, (dns_id, status))
    return len(listed)


def test_kill_during_admin_writes_loses_no_acknowledged_write():
    rng = random.Random(SEED)
    print(f"seed {SEED} (set STSD_E2E_SEED to repeat)")
    port = free_port()
    workdir = None
    acknowledged = []
    for round_number in range(ROUNDS):
        server = Stsd(CONFIG, workdir=workdir, port=port)
        workdir = server.dir
        server.start()
        try:
            # Kill once a random number of writes were acknowledged (so every round has
            # some, however slow the machine), a random few milliseconds later, so that
            # requests are in flight at different stages.
            target = rng.randint(5, 60)
            writers = [Writer(workdir, f"r{round_number}w{i}", random.Random(rng.random()), time.time() + 300)
                       for i in range(WRITERS)]
            started = time.time()
            for w in writers:
                w.start()
            deadline = time.time() + 120
            while sum(len(w.acknowledged) for w in writers) < target:
                check(time.time() < deadline, "the writers made no progress")
                check(all(w.is_alive() for w in writers), "a writer stopped before the kill")
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            kill_after = time.time() - started
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(30)
            for w in writers:
                w.join(120)
                check(not w.is_alive(), "a writer did not stop after the server died")
                if w.error:
                    raise w.error
                acknowledged += w.acknowledged
            round_writes = sum(len(w.acknowledged) for w in writers)
            check(os.path.exists(os.path.join(workdir, "var/stsd.sock")), "the killed server left no socket to replace")
        finally:
            server.__exit__(None, None, None)

        # Restart on the same store (and the stale socket) and check everything.
        server = Stsd(CONFIG, workdir=workdir, port=port)
        with server:
            domains = verify(server, acknowledged)
        print(f"round {round_number}: killed after {kill_after:.2f}s, {round_writes} acknowledged writes this round, "
              f"{len(acknowledged)} in total, {domains} domains verified")
    check(len(acknowledged) > 20, f"too few writes to mean anything: {len(acknowledged)}")


if __name__ == "__main__":
    run_tests(None, [test_kill_during_admin_writes_loses_no_acknowledged_write])
