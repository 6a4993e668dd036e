#!/usr/bin/env python3
"""TLS-RPT intake benchmark (issue 17): N reports (default 100,000) POSTed over HTTPS in
parallel to the real stsd, as large reporters send them (gzip JSON, one policy, failure
details), to D domains (default 1,000) whose v1 and then v2 were confirmed; a share of the
reports applied v1 after v2's confirmation (stale). Records the throughput, stsd's peak
RSS and PSS, the stored octets against `max_store_mib`, and the outcomes; writes a
Markdown report (bench/results/<date>-tlsrpt.md).

  bench/tlsrpt/run.py [--reports 100000] [--domains 1000] [--clients 16] [--max-store-mib 64]
Environment: STSD_BIN (default build/release/bin).
"""
import argparse
import gzip
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STSD_BIN = os.environ.get("STSD_BIN", os.path.join(ROOT, "build", "release", "bin"))
DAY = 86400
V1 = ["version: STSv1", "mode: testing", "mx: mx1.{d}", "max_age: 86400"]
V2 = ["version: STSv1", "mode: enforce", "mx: mx1.{d}", "max_age: 604800"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def report_body(i, args, base):
    """Report i: domain i % D, day spread over 30 days, reporter one of 4, 1 in 10 stale."""
    domain = f"dom{i % args.domains}.example"
    stale = i % 10 == 0
    lines = [line.format(d=domain) for line in (V1 if stale else V2)]
    start = base + (i // args.domains) % 30 * DAY
    org = ("google.com", "microsoft.com", "yahoo.com", "comcast.net")[i % 4]
    details = [{"result-type": ("sts-webpki-invalid", "certificate-expired", "starttls-not-supported")[k % 3],
                "sending-mta-ip": f"209.85.{k}.{i % 250}", "receiving-mx-hostname": f"mx1.{domain}",
                "receiving-ip": "192.0.2.25", "failed-session-count": 1 + k} for k in range(i % 5)]
    document = {"organization-name": org,
                "date-range": {"start-datetime": iso(start), "end-datetime": iso(start + DAY - 1)},
                "contact-info": "smtp-tls-reporting@" + org, "report-id": f"bench-{i}",
                "policies": [{"policy": {"policy-type": "sts", "policy-string": lines, "policy-domain": domain,
                                         "mx-host": [f"mx1.{domain}"]},
                              "summary": {"total-successful-session-count": 100 + i % 1000,
                                          "total-failure-session-count": sum(1 + k for k in range(i % 5))},
                              "failure-details": details}]}
    return gzip.compress(json.dumps(document).encode(), 6)


def client_process(index, args, base, port, cafile, queue):
    """One process, `args.threads` keep-alive connections, reports index, index+clients, ..."""
    context = ssl.create_default_context(cafile=cafile)
    counts, lock = {}, threading.Lock()
    numbers = list(range(index, args.reports, args.clients))
    bodies = [(n, report_body(n, args, base)) for n in numbers]  # made before the clock starts
    queue.put(("ready", index))
    go = queue_go[index]
    go.wait()
    chunks = [bodies[t::args.threads] for t in range(args.threads)]

    def run(chunk):
        connection = http.client.HTTPSConnection("tlsrpt.bench.test", port, context=context, timeout=60)
        connection._create_connection = lambda *a, **k: socket.create_connection(("127.0.0.1", port), 60)
        local = {}
        for _, body in chunk:
            for attempt in range(5):
                try:
                    connection.request("POST", "/tlsrpt", body, {"Content-Type": "application/tlsrpt+gzip"})
                    reply = connection.getresponse()
                    reply.read()
                    local[reply.status] = local.get(reply.status, 0) + 1
                    if reply.getheader("Connection", "").lower() == "close":
                        connection.close()
                    break
                except (ConnectionError, http.client.HTTPException, OSError):
                    connection.close()
        with lock:
            for status, n in local.items():
                counts[status] = counts.get(status, 0) + n
    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(("done", counts))


queue_go = {}


def memory(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                values[line.split(":")[0]] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                values["Pss"] = int(line.split()[1])
    return values


def admin(sock, path, method="GET", body=None, content_type="application/json"):
    cmd = ["curl", "-s", "--unix-socket", sock, "-X", method, "http://localhost" + path]
    if body is not None:
        cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
    return json.loads(subprocess.run(cmd, capture_output=True, input=body, check=True, timeout=600).stdout)


def metric(port, name):
    out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True).stdout
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in out.splitlines()
            if line.startswith(name)}


def set_clock(path, offset):
    with open(path + ".tmp", "w") as f:
        f.write(str(int(offset)))
    os.replace(path + ".tmp", path)
    time.sleep(0.3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=100000)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="keep-alive connections per process")
    parser.add_argument("--max-store-mib", type=int, default=64)
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results",
                                                         time.strftime("%Y-%m-%d") + "-tlsrpt.md"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="stsd-bench-tlsrpt-")
    https_port, dns_port, metrics_port = free_port(), free_port(), free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{work}/intake.key", "-out", f"{work}/intake.crt", "-days", "30",
                    "-subj", "/CN=tlsrpt.bench.test", "-addext", "subjectAltName=DNS:tlsrpt.bench.test"],
                   check=True, capture_output=True)
    config = f"""
storage: var/stsd.db
admin: {{ socket: var/stsd.sock }}
metrics: {{ listen: "127.0.0.1:{metrics_port}" }}
servers:
  - listen: ["127.0.0.1:{dns_port}"]
    plugins:
      mtasts:
        service_zone: sts.bench.test.
        nameservers: [ns1.bench.test.]
        hostmaster: hostmaster.bench.test.
tlsrpt:
  listen: ["127.0.0.1:{https_port}"]
  certificate: intake.crt
  key: intake.key
  max_store_mib: {args.max_store_mib}
  requests_per_second: 1000000
  burst: 1000000
  max_connections: 1024
"""
    with open(f"{work}/stsd.yaml", "w") as f:
        f.write(config)
    clock = f"{work}/clock-offset"
    now = time.time()
    set_clock(clock, -40 * DAY)
    env = dict(os.environ, STSD_CLOCK_OFFSET_FILE=clock)
    log = open(f"{work}/stsd.log", "wb")
    stsd = subprocess.Popen([f"{STSD_BIN}/stsd", "--config", f"{work}/stsd.yaml"], stdout=log, stderr=log, env=env,
                            cwd=work)
    sock = f"{work}/var/stsd.sock"
    deadline = time.time() + 30
    while not os.path.exists(sock):
        if time.time() > deadline or stsd.poll() is not None:
            sys.exit("stsd did not start:\n" + open(f"{work}/stsd.log").read())
        time.sleep(0.1)
    time.sleep(0.5)
    try:
        for offset, policy in ((-40 * DAY, V1), (-35 * DAY, V2)):
            set_clock(clock, offset)
            rows = "domain,mode,mx,max_age\n" + "".join(
                f"dom{d}.example,{policy[1].split(': ')[1]},mx1.dom{d}.example,{policy[3].split(': ')[1]}\n"
                for d in range(args.domains))
            with open(f"{work}/domains.csv", "w") as f:
                f.write(rows)
            subprocess.run([f"{STSD_BIN}/stsctl", "import", "domains.csv", "--confirm-now", "--reason", "bench"],
                           cwd=work, check=True, capture_output=True, env=env)
        set_clock(clock, 0)
        base = now - 31 * DAY

        manager = multiprocessing.Manager()
        queue = manager.Queue()
        for i in range(args.clients):
            queue_go[i] = manager.Event()
        processes = [multiprocessing.Process(target=client_process,
                                             args=(i, args, base, https_port, f"{work}/intake.crt", queue))
                     for i in range(args.clients)]
        for p in processes:
            p.start()
        for _ in processes:
            queue.get()
        before = memory(stsd.pid)
        cpu_before = os.times()
        samples = []
        stop_sampling = threading.Event()

        def sample():
            while not stop_sampling.wait(0.5):
                samples.append(memory(stsd.pid))
        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.time()
        for i in range(args.clients):
            queue_go[i].set()
        counts = {}
        for _ in processes:
            _, got = queue.get()
            for status, n in got.items():
                counts[status] = counts.get(status, 0) + n
        elapsed = time.time() - started
        stop_sampling.set()
        sampler.join()
        for p in processes:
            p.join()
        after = memory(stsd.pid)
        stale = admin(sock, "/v1/reports?stale=true")
        gauges = metric(metrics_port, "stsd_tlsrpt_")
        store_bytes = int(gauges.get("stsd_tlsrpt_store_bytes", 0))
        du = int(subprocess.run(["du", "-sk", f"{work}/var/stsd.db"], capture_output=True, text=True).stdout.split()[0])
        with open(f"/proc/{stsd.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        peak_pss = max([s.get("Pss", 0) for s in samples] + [after.get("Pss", 0)])
        lines = [
            f"# TLS-RPT intake: {args.reports:,} reports over HTTPS in parallel ({time.strftime('%Y-%m-%d')})",
            "",
            f"Command: `bench/tlsrpt/run.py --reports {args.reports} --domains {args.domains} --clients {args.clients}"
            f" --threads {args.threads} --max-store-mib {args.max_store_mib}` (release build, "
            f"{os.cpu_count()} CPUs shared with the load generator and other builds).",
            "",
            f"- Data: {args.domains:,} domains, v1 confirmed 40 days ago and v2 35 days ago; reports gzip JSON "
            "(one policy, 0-4 failure details) from 4 reporters over 30 days; 1 in 10 applied v1 (stale).",
            f"- Load: {args.clients} client processes x {args.threads} keep-alive TLS connections "
            "(Python http.client), bodies compressed before the clock starts.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| reports | {args.reports:,} |",
            f"| answers | {', '.join(f'{k}: {v:,}' for k, v in sorted(counts.items()))} |",
            f"| wall time | {elapsed:.1f} s |",
            f"| throughput | {args.reports / elapsed:,.0f} reports/s |",
            f"| stsd CPU (whole run, incl. import) | {cpu_seconds:.1f} s |",
            f"| stsd peak RSS (VmHWM) | {after['VmHWM'] / 1024:.1f} MiB (before the load: {before['VmHWM'] / 1024:.1f}) |",
            f"| stsd PSS peak (sampled every 0.5 s) / after | {peak_pss / 1024:.1f} / {after['Pss'] / 1024:.1f} MiB |",
            f"| stored reports (stsd_tlsrpt_store_bytes) | {store_bytes / 1048576:.1f} MiB, bound {args.max_store_mib} MiB"
            f" ({'within' if store_bytes <= args.max_store_mib << 20 else 'OVER'}) |",
            f"| days kept (stsd_tlsrpt_store_days) | {int(gauges.get('stsd_tlsrpt_store_days', 0))} |",
            f"| store folder on disk (du) | {du / 1024:.1f} MiB |",
            f"| domains with stale reports (GET /v1/reports?stale=true) | {len(stale['domains']):,} |",
            f"| stsd_tlsrpt_domains_stale | {int(gauges.get('stsd_tlsrpt_domains_stale', 0)):,} |",
            "",
        ]
        text = "\n".join(lines)
        print(text)
        if args.output:
            with open(args.output, "w") as f:
                f.write(text)
    finally:
        stsd.terminate()
        stsd.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
