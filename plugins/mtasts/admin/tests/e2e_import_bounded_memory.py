"""`stsctl import` of a generated 100,000-row CSV file (STSD_E2E_IMPORT_ROWS overrides
the count) completes with bounded memory in both stsctl and stsd, and what it confirms
is served over DNS.

Bounds: stsctl streams the file one record at a time and sends batches of 500 rows, so
its peak RSS must stay far below the file's size plus the JSON of all its rows; stsd
holds one batch at a time plus its in-memory index and RocksDB's write buffers."""
import os
import subprocess
import time

from admin_e2e import CONFIG, SERVICE_ZONE, served_id, stsctl, stsctl_json, stsctl_path
from harness import check, kdig, run_tests

ROWS = int(os.environ.get("STSD_E2E_IMPORT_ROWS", "100000"))
STSCTL_MAX_RSS_KIB = 64 * 1024      # measured: about 8 MiB, whatever the file size
STSD_MAX_RSS_KIB = 768 * 1024       # measured: about 250 MiB for 100k domains (debug build)


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


def test_import_streams_with_bounded_memory(server):
    path = os.path.join(server.dir, "domains.csv")
    size = write_csv(path, ROWS)
    started = time.time()
    out_path, err_path = os.path.join(server.dir, "import.out"), os.path.join(server.dir, "import.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([stsctl_path(), "import", path, "--confirm-now", "--reason", "migration e2e"],
                                cwd=server.dir, stdout=out, stderr=err)
    # wait4 reports this child's own peak RSS (ru_maxrss, KiB); bounded in time.
    deadline = time.time() + 1800
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        check(time.time() < deadline, "import did not finish within 30 minutes")
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    os.remove(path)   # 11 MB per run; the server's folder is otherwise kept for its log
    elapsed = time.time() - started
    check(proc.returncode == 0, f"import exited {proc.returncode}\n{stdout}\n{stderr[-3000:]}")
    check(f"imported {ROWS} rows" in stdout and f"{ROWS} domains added" in stdout and f"{ROWS} confirmed" in stdout,
          stdout)
    # Not a terminal: progress comes as plain periodic lines, ending with "done".
    check("import: checking:" in stderr and "import: importing:" in stderr and "done" in stderr, stderr[-2000:])

    stsd_peak = read_kib(server.proc.pid, "VmHWM")
    stsctl_peak = usage.ru_maxrss
    print(f"imported {ROWS} rows ({size // 1024} KiB) in {elapsed:.1f}s; peak RSS stsctl {stsctl_peak} KiB, "
          f"stsd {stsd_peak} KiB")
    check(stsctl_peak < STSCTL_MAX_RSS_KIB, f"stsctl peak RSS {stsctl_peak} KiB")
    check(stsd_peak < STSD_MAX_RSS_KIB, f"stsd peak RSS {stsd_peak} KiB")

    # Everything is in the store and served.
    info = stsctl_json(server, "version")
    check(info["domains"] == ROWS, info)
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
    run_tests(CONFIG, [test_import_streams_with_bounded_memory])
