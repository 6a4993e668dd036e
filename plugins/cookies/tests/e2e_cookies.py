"""The cookies plugin behind the real binary, queried with `kdig +cookie` (RFC 7873, RFC
9018): a client cookie gets a fresh server cookie; a good one is echoed; a forged one over
UDP gets BADCOOKIE and no records (kdig's retry with the cookie it was handed succeeds);
over TCP a normal answer with a fresh cookie; a malformed option FORMERR. Configured
secrets rotated through SIGHUP ([new, old] keeps old cookies good, then [new] refuses
them); the random secret rotated by `secret_lifetime`, moved through with the test clock
(STSD_CLOCK_OFFSET_FILE); the counters on /metrics."""
import os
import re
import subprocess
import time
import urllib.request

from harness import STSD_BIN, Stsd, TestClock, TestFailure, check, free_port, kdig, reload_and_wait, run_tests

SECRET_OLD = "e5e973e5a6b2a43f48e7dc849e37bfcf"
SECRET_NEW = "445536bcd2513298075a5d379663c962"
CLIENT = "2464c4abcf10c957"

ZONE = """
      file:
        - zone: example.org.
          path: {source}/zones/example.org.zone
"""


def configured(secrets, metrics_port=None):
    text = ("servers:\n  - listen: [\"127.0.0.1:{port}\"]\n    plugins:\n      metrics: {}\n"
            f"      cookies:\n        secret: [{', '.join(secrets)}]\n" + ZONE)
    if metrics_port:
        text += f"metrics:\n  listen: 127.0.0.1:{metrics_port}\n"
    return text


ROTATING = """
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      cookies:
        secret_lifetime: 10m
""" + ZONE

COOKIE_LINE = re.compile(r"^;; COOKIE: ([0-9A-Fa-f]+)", re.M)


def ask(server, cookie=None, tcp=False, retry_badcookie=False, extra=()):
    """kdig www.example.org A with `cookie` (hex: client cookie, then any server cookie)
    or kdig's own random client cookie; returns (answer, the last COOKIE kdig printed)."""
    args = [f"+cookie={cookie}" if cookie else "+cookie"]
    args.append("+badcookie" if retry_badcookie else "+nobadcookie")
    answer = kdig(server, "www.example.org", "A", tcp=tcp, args=args + list(extra))
    cookies = COOKIE_LINE.findall(answer.text)
    return answer, cookies[-1].lower() if cookies else None


def server_cookie(reply_cookie, client=CLIENT):
    check(reply_cookie and reply_cookie.startswith(client.lower()), f"the client cookie is echoed: {reply_cookie}")
    server = reply_cookie[len(client):]
    check(len(server) == 32 and server.startswith("01000000"), f"an RFC 9018 server cookie: {server}")
    return server


def stamp(server):
    return int(server[8:16], 16)


def is_answer(answer):
    return answer.rcode == "NOERROR" and answer.rdatas("A") == ["192.0.2.80"]


def is_badcookie(answer):
    return answer.rcode == "BADCOOKIE" and not answer.answer and not answer.authority


# --- one server, configured secrets -------------------------------------------------

def test_no_cookie_no_option(stsd):
    answer = kdig(stsd, "www.example.org", "A", args=["+nocookie"])
    check(is_answer(answer), answer)
    check("COOKIE" not in answer.text, answer.text)


def test_client_cookie_gets_a_fresh_server_cookie(stsd):
    answer, cookie = ask(stsd, CLIENT)
    check(is_answer(answer), answer)
    server = server_cookie(cookie)
    check(abs(stamp(server) - time.time()) < 60, f"timestamp {stamp(server)} is now")
    # kdig's own random client cookie works the same.
    answer, cookie = ask(stsd)
    check(is_answer(answer) and cookie and len(cookie) == 48, (answer, cookie))


def test_good_cookie_is_echoed(stsd):
    _, cookie = ask(stsd, CLIENT)
    answer, again = ask(stsd, cookie)
    check(is_answer(answer), answer)
    check(again == cookie, f"echoed: sent {cookie}, got {again}")
    # The same cookie from another source address is not good (RFC 9018 §4.4).
    answer, _ = ask(stsd, cookie, extra=["-b", "127.0.0.2"])
    check(is_badcookie(answer), answer)


def test_forged_cookie_is_badcookie(stsd):
    _, cookie = ask(stsd, CLIENT)
    forged = cookie[:-2] + ("00" if cookie[-2:] != "00" else "01")
    answer, fresh = ask(stsd, forged)
    check(is_badcookie(answer), answer)
    check(answer.edns is not None and answer.edns.get("ext-rcode") == "BADCOOKIE", answer.edns)
    server_cookie(fresh)
    check(fresh != forged, "a fresh cookie comes with BADCOOKIE")
    # kdig's default: retry once with the cookie the server handed back.
    answer, retried = ask(stsd, forged, retry_badcookie=True)
    check(is_answer(answer), answer)
    server_cookie(retried)
    # Not a cookie of RFC 9018's shape at all.
    answer, _ = ask(stsd, CLIENT + "00112233445566778899aabbccddeeff0011223344556677")
    check(is_badcookie(answer), answer)


def test_forged_cookie_over_tcp_is_answered(stsd):
    forged = CLIENT + "01000000" + "%08x" % int(time.time()) + "00" * 8
    answer, fresh = ask(stsd, forged, tcp=True)
    check(is_answer(answer), answer)
    check(fresh != forged, fresh)
    answer, again = ask(stsd, CLIENT + server_cookie(fresh), tcp=True)
    check(is_answer(answer) and again == CLIENT + server_cookie(fresh), (answer, again))


def test_malformed_option_is_formerr(stsd):
    for data in ("0011223344", "00112233445566778899"):  # 5 and 10 octets (RFC 7873 §5.2.2)
        answer = kdig(stsd, "www.example.org", "A", args=["+nocookie", f"+ednsopt=10:{data}"])
        check(answer.rcode == "FORMERR" and not answer.answer, (data, answer))


def test_rotation_through_sighup(stsd):
    _, cookie = ask(stsd, CLIENT)
    old = server_cookie(cookie)
    # RFC 9018 §5: the new secret first, the old one still accepted.
    stsd.write_config(configured([SECRET_NEW, SECRET_OLD], METRICS_PORT))
    reload_and_wait(stsd, "config reloaded")
    answer, renewed = ask(stsd, CLIENT + old)
    check(is_answer(answer), answer)
    new = server_cookie(renewed)
    check(new != old, "a cookie made with the old secret is renewed with the new one")
    answer, again = ask(stsd, CLIENT + new)
    check(is_answer(answer) and again == CLIENT + new, (answer, again))
    # The old secret dropped: its cookies are refused, the new ones stay good.
    stsd.write_config(configured([SECRET_NEW], METRICS_PORT))
    reload_and_wait(stsd, "config reloaded")
    answer, _ = ask(stsd, CLIENT + old)
    check(is_badcookie(answer), answer)
    answer, again = ask(stsd, CLIENT + new)
    check(is_answer(answer) and again == CLIENT + new, (answer, again))


def test_metrics_count_cookies(stsd):
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = dict(re.findall(r"^(stsd_cookies_\S+) (\d+)$", text, re.M))
    label = f'server="127.0.0.1:{stsd.port}"'
    for kind, at_least in (("none", 1), ("client_only", 3), ("valid", 3), ("invalid", 3), ("malformed", 2)):
        key = f'stsd_cookies_queries_total{{{label},cookie="{kind}"}}'
        check(int(samples.get(key, 0)) >= at_least, f"{key} >= {at_least}:\n{text}")
    check(int(samples.get(f"stsd_cookies_badcookie_total{{{label}}}", 0)) >= 3, text)
    check(int(samples.get(f"stsd_cookies_renewed_total{{{label}}}", 0)) >= 1, text)


# --- the random secret, rotated by the test clock -----------------------------------

def test_random_secret_rotates_with_the_clock(_shared):
    """Runs a server of its own (the test clock is per process)."""
    server = Stsd(ROTATING)
    clock = TestClock(server.dir)
    server.env.update(clock.env)
    with server:
        try:
            rotate_through_periods(server, clock)
        except TestFailure as failure:
            raise TestFailure(f"{failure}\n---- its stsd log ----\n{server.read_log()[-4000:]}") from None


def rotate_through_periods(server, clock):
    # 30 s into a 10-minute period (periods count from the epoch).
    start = (int(time.time()) // 600 + 2) * 600 + 30
    clock.set(start)
    _, cookie = ask(server, CLIENT)
    first = server_cookie(cookie)
    check(abs(stamp(first) - start) < 5, f"stamped with the test clock: {stamp(first)} vs {start}")
    answer, echoed = ask(server, CLIENT + first)
    check(is_answer(answer) and echoed == CLIENT + first, (answer, echoed))

    # The next period: the first secret is the previous one, still accepted; the
    # cookie is renewed with the current secret though only 10 minutes old.
    clock.set(start + 600)
    answer, renewed = ask(server, CLIENT + first)
    check(is_answer(answer), answer)
    second = server_cookie(renewed)
    check(second != first and stamp(second) - stamp(first) >= 595, (first, second))

    # Two periods on, 20 minutes after it was made (well within the hour a cookie's
    # timestamp allows): the first secret is gone.
    clock.set(start + 1200)
    answer, _ = ask(server, CLIENT + first)
    check(is_badcookie(answer), answer)
    answer, again = ask(server, CLIENT + second)
    check(is_answer(answer), answer)
    server_cookie(again)

    # An hour and more after it was made, a cookie has expired whatever the secret.
    clock.set(stamp(second) + 3601)
    answer, _ = ask(server, CLIENT + second)
    check(is_badcookie(answer), answer)


def test_check_config_names_a_bad_secret(_shared):
    server = Stsd(configured(["e5e973e5a6b2a43f48e7dc849e37bfcx"]))
    server.write_config()
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", server.config_path],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode != 0, p)
    message = p.stdout + p.stderr
    check("stsd.yaml:6:" in message and "not a hex digit at position 32" in message, message)


METRICS_PORT = free_port()

if __name__ == "__main__":
    run_tests(configured([SECRET_OLD], METRICS_PORT),
              [test_no_cookie_no_option, test_client_cookie_gets_a_fresh_server_cookie, test_good_cookie_is_echoed,
               test_forged_cookie_is_badcookie, test_forged_cookie_over_tcp_is_answered,
               test_malformed_option_is_formerr, test_rotation_through_sighup, test_metrics_count_cookies,
               test_random_secret_rotates_with_the_clock, test_check_config_names_a_bad_secret])
