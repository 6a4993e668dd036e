"""`stsctl import` of a generated 100,000-row CSV file (STSD_E2E_IMPORT_ROWS overrides
the count) completes with bounded memory in both stsctl and stsd, and what it confirms
is served over DNS.

Bounds: stsctl streams the file one record at a time and sends requests of 20000 rows as
CSV (reading the next while one is in flight), so its peak RSS must stay far below the
file's size; stsd holds one request at a time (at most 50000 rows, 32 MiB) plus its
in-memory index and RocksDB's write buffers."""
import os
import subprocess
import time

from admin_e2e import CONFIG, SERVICE_ZONE, served_id, stsctl, stsctl_json, stsctl_path
from harness import check, kdig, run_tests

ROWS = int(os.environ.get("STSD_E2E_IMPORT_ROWS", "100000"))
# stsctl's peak may exceed its peak for a ten-row file by this much: two requests' rows.
STSCTL_GROWTH_KIB = 32 * 1024       # measured: about 8 MiB
STSD_MAX_RSS_KIB = 1024 * 1024      # measured: about 290 MiB for 100k domains (debug build)
# Sanitizer builds keep freed memory in a quarantine (256 MiB by default), which would
# make RSS measure AddressSanitizer rather than stsd; a small one keeps its checks.
ENV = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=4"]))}


def domain(i):
    return f"d{i}.import.example"


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write("domain,mode,mx,max_age,tlsrpt_rua\n")
        for i in range(rows):
            # Quoted fields (RFC 4180), several mx patterns, an optional rua.
            rua = f"mailto:tls@{domain(i)}" if i % 2 == 0 else ""
            f.write(f'{domain(i)},enforce,"mx1.{domain(i)} *.mail.{domain(i)}",604800,{rua}\r\n')
    return os.path.getsize(path)


def import_file(server, path, *args):
    """Runs `stsctl import`; returns (exit code, stdout, stderr, peak RSS in KiB)."""
    out_path, err_path = os.path.join(server.dir, "import.out"), os.path.join(server.dir, "import.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([stsctl_path(), "import", path, *args], cwd=server.dir, stdout=out, stderr=err,
                                env=dict(os.environ, **ENV))
    # wait4 reports this child's own peak RSS (ru_maxrss, KiB); bounded in time.
    deadline = time.time() + 1800
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        check(time.time() < deadline, "import did not finish within 30 minutes")
        time.sleep(0.2)
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    return os.waitstatus_to_exitcode(status), stdout, stderr, usage.ru_maxrss


def test_import_streams_with_bounded_memory(server):
    small = os.path.join(server.dir, "small.csv")
    with open(small, "w") as f:
        f.write("domain,mode,mx,max_age\n" + "".join(f"s{i}.small.example,testing,mx.example,86400\n" for i in range(10)))
    rc, stdout, stderr, stsctl_baseline = import_file(server, small)
    check(rc == 0 and "imported 10 rows" in stdout, stdout + stderr)

    path = os.path.join(server.dir, "domains.csv")
    size = write_csv(path, ROWS)
    started = time.time()
    rc, stdout, stderr, stsctl_peak = import_file(server, path, "--confirm-now", "--reason", "migration e2e")
    os.remove(path)   # 11 MB per run; the server's folder is otherwise kept for its log
    elapsed = time.time() - started
    check(rc == 0, f"import exited {rc}\n{stdout}\n{stderr[-3000:]}")
    check(f"imported {ROWS} rows" in stdout and f"{ROWS} domains added" in stdout and f"{ROWS} confirmed" in stdout,
          stdout)
    # Not a terminal: progress comes as plain periodic lines, ending with "done".
    check("import: checking:" in stderr and "import: importing:" in stderr and "done" in stderr, stderr[-2000:])

    stsd_peak = read_kib(server.proc.pid, "VmHWM")
    print(f"imported {ROWS} rows ({size // 1024} KiB) in {elapsed:.1f}s; peak RSS stsctl {stsctl_peak} KiB "
          f"(10 rows: {stsctl_baseline} KiB), stsd {stsd_peak} KiB")
    check(stsctl_peak < stsctl_baseline + STSCTL_GROWTH_KIB,
          f"stsctl peak RSS {stsctl_peak} KiB, {stsctl_baseline} KiB for ten rows")
    check(stsd_peak < STSD_MAX_RSS_KIB, f"stsd peak RSS {stsd_peak} KiB")

    # Everything is in the store and served.
    info = stsctl_json(server, "version")
    check(info["domains"] == ROWS + 10, info)
    for i in (0, 1, ROWS // 2, ROWS - 1):
        status = stsctl_json(server, "status", domain(i))
        check(status["confirmed"]["version"] == 1 and status["confirmation"]["reason"] == "migration e2e", status)
        check(served_id(server, domain(i)) == status["served_id"], status)
        answer = kdig(server, f"_smtp._tls.{domain(i)}.{SERVICE_ZONE}", "TXT")
        expected = [f'"v=TLSRPTv1; rua=mailto:tls@{domain(i)}"'] if i % 2 == 0 else []
        check([rr[4] for rr in answer.answer] == expected, answer)


def read_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


if __name__ == "__main__":
    run_tests(CONFIG, [test_import_streams_with_bounded_memory], env=ENV)
