"""Both UDP loops over the real binary (`udp.io: io_uring` and `udp.io: recvmmsg`,
docs/configuration.md): each answers on IPv4 and IPv6, truncates, answers a burst from
many clients each to its own, answers from the address asked on a wildcard listener
(IP_PKTINFO), survives an oversized datagram, and stops at once on SIGTERM. The io_uring
run also checks that the sockets' threads really use io_uring, and that a bad `udp.io`
is refused naming the key. The io_uring loop runs with the default burst wait, without
one, and with another (`udp.burst_datagrams`, `udp.burst_wait_us`)."""
import os
import signal
import socket
import subprocess
import time

from harness import STSD_BIN, Stsd, build_query, check, check_udp_burst, free_port, parse_message, query, send_udp, TestFailure

CONFIG = """
workers: 2
udp: {{ io: {io}{extra} }}
servers:
  - listen: ["127.0.0.1:{{port}}", "[::1]:{{port}}"]
    plugins:
      file:
        - zone: core.test.
          path: {{source}}/tests/e2e/zones/core.test.zone
  - listen: [":{wildcard_port}"]
    plugins:
      chaos: {{ version: "any address" }}
"""


def io_uring_descriptors(pid):
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]":
                count += 1
        except OSError:
            pass
    return count


def check_loop_in_use(s, io):
    # 2 workers x 4 UDP sockets (127.0.0.1, ::1, 0.0.0.0, ::): one ring each, or none.
    rings = io_uring_descriptors(s.proc.pid)
    check(rings == (8 if io == "io_uring" else 0), f"udp.io {io}: {rings} io_uring descriptors")


def check_answers(s):
    r = query(s, "www.core.test", "A")
    check(r.rcode == "NOERROR" and r.answer and "aa" in r.flags, r)
    raw = send_udp("::1", s.port, build_query("www.core.test", "AAAA", qid=0x0606))
    m = parse_message(raw)
    check(m.id == 0x0606 and m.rcode == "NOERROR" and m.answer, m)


def check_truncation(s):
    r = query(s, "big.core.test", "TXT")
    check("tc" in r.flags and not r.answer and r.size <= 512, r)
    r = query(s, "big.core.test", "TXT", edns={"size": 1232})
    check("tc" in r.flags and r.size <= 1232, r)


def check_burst(s):
    check_udp_burst(s.port, lambda k, n: "www.core.test", per_client=60)


def check_wildcard_source(wildcard_port):
    for host, family in (("127.0.0.3", socket.AF_INET), ("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.settimeout(2)
        try:
            sock.connect((host, wildcard_port))
            sock.send(build_query("version.bind", "TXT", qid=0x4242, cls=3))
            raw, source = sock.recvfrom(4096)
        finally:
            sock.close()
        check(source[0] == host, f"answer for {host} came from {source}")
        check(parse_message(raw).id == 0x4242, raw)


def check_oversized_datagram(s, io):
    # A query padded past 4,000 octets: the io_uring loop's buffers take about 4,000, so
    # it arrives truncated and is dropped; recvmmsg reads it whole (and answers FORMERR,
    # trailing octets). Either way the next query is answered.
    big = build_query("www.core.test", "A", qid=0x0b0b) + b"\0" * 5000
    try:
        raw = send_udp(s.host, s.port, big, timeout=0.5)
        got = parse_message(raw)
        check(io == "recvmmsg" and got.id == 0x0b0b, f"udp.io {io}: answer to an oversized query: {got}")
    except socket.timeout:
        check(io == "io_uring", f"udp.io {io}: no answer to an oversized query")
    check(query(s, "www.core.test", "A").rcode == "NOERROR", "answers after an oversized datagram")


def check_prompt_stop(s):
    started = time.monotonic()
    s.signal(signal.SIGTERM)
    s.proc.wait(10)
    took = time.monotonic() - started
    check(s.proc.returncode == 0, f"exit code {s.proc.returncode}")
    # The recvmmsg loop's 1 s receive timeout is only a backstop; a wake-up ends the wait.
    check(took < 0.9, f"stopped after {took:.2f}s")


def run_loop(io, extra=""):
    wildcard_port = free_port()
    with Stsd(CONFIG.format(io=io, extra=extra, wildcard_port=wildcard_port)) as s:
        check_loop_in_use(s, io)
        check_answers(s)
        check_truncation(s)
        check_burst(s)
        check_wildcard_source(wildcard_port)
        check_oversized_datagram(s, io)
        check_prompt_stop(s)


def test_bad_io_setting_refused():
    s = Stsd(CONFIG.format(io="epoll", extra="", wildcard_port=free_port()))
    s.write_config()
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", s.config_path], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode != 0 and "io" in p.stderr and "io_uring" in p.stderr and "epoll" in p.stderr, p.stderr)


def main():
    failed = 0
    tests = (# By default the loop waits for 32 datagrams or 200 µs: a lone query is still
             # answered, a burst from many clients still each to its own.
             ("io_uring", lambda: run_loop("io_uring")),
             ("io_uring_each_arrival", lambda: run_loop("io_uring", ", burst_datagrams: 1")),
             ("io_uring_burst_8_or_300us", lambda: run_loop("io_uring", ", burst_datagrams: 8, burst_wait_us: 300")),
             ("recvmmsg", lambda: run_loop("recvmmsg")),
             ("bad_io_setting_refused", test_bad_io_setting_refused))
    for name, test in tests:
        started = time.time()
        try:
            test()
            print(f"PASS {name} ({time.time() - started:.2f}s)", flush=True)
        except (TestFailure, AssertionError, OSError, subprocess.SubprocessError) as error:
            failed += 1
            print(f"FAIL {name}: {error}", flush=True)
    print(f"{len(tests) - failed} passed, {failed} failed")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
