"""The status page off loopback: a config that listens beyond loopback without a token is
refused (at start and on reload), a token is then asked of every request (browsers: HTTP
Basic with the token as the password; scripts: Bearer), and a reload switches listeners
and token all or nothing, as the metrics endpoint does.
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import STSD_BIN, Stsd, check, free_port, reload_and_wait, run_tests  # noqa: E402
from status_browser import Browser  # noqa: E402

TOKEN = "c3f1d2a4b5e6978812345678abcdef90"
BASE = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
"""


def status_section(listen, token_file=None):
    text = f"status:\n  listen: \"{listen}\"\n"
    if token_file:
        text += f"  token_file: {token_file}\n"
    return text


def write_token(directory, name="status.token", mode=0o600, token=TOKEN):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, mode)
    return path


def curl(port, *args, path="/"):
    """(status, headers, body) of GET http://127.0.0.1:port/path."""
    p = subprocess.run(["curl", "-sS", "--max-time", "5", "-D", "-", *args, f"http://127.0.0.1:{port}{path}"],
                       capture_output=True, timeout=10)
    if p.returncode != 0:
        return None, {}, p.stderr.decode(errors="replace")
    head, _, body = p.stdout.decode(errors="replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_no_token_off_loopback_is_refused():
    port = free_port()
    stsd = Stsd(BASE + status_section(f"0.0.0.0:{port}"), wait=False)
    stsd.write_config()
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", stsd.config_path], capture_output=True,
                       text=True, timeout=30)
    message = p.stdout + p.stderr
    check(p.returncode != 0, f"--check-config accepted a status page on 0.0.0.0 without a token: {message}")
    check("status.listen" in message and "is not a loopback address" in message and "token_file" in message, message)
    stsd.start()
    check(stsd.proc.wait(15) != 0, "stsd started anyway")
    check("is not a loopback address" in stsd.read_log(), stsd.read_log())
    # Every address of a list counts: one outside loopback is enough.
    stsd.write_config(BASE + f"status:\n  listen: [\"127.0.0.1:{port}\", \"[::]:{port}\"]\n")
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", stsd.config_path], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode != 0 and "'[::]:" in p.stdout + p.stderr, p.stdout + p.stderr)


def test_token_asked_off_loopback():
    port = free_port()
    stsd = Stsd(BASE + status_section(f"0.0.0.0:{port}", "status.token"))
    write_token(stsd.dir)
    with stsd:
        stsd.run("stsctl", "--socket", os.path.join(stsd.dir, "stsd.sock"), "domain", "add", "secret-customer.example")
        status, headers, body = curl(port)
        check(status == 401, (status, body))
        check(headers.get("www-authenticate") == 'Basic realm="stsd status", charset="UTF-8"', headers)
        check("secret-customer" not in body, "a refusal shows nothing of the store")
        for wrong in (["-u", "admin:wrong-token-wrong-token"], ["-H", f"Authorization: Bearer {TOKEN}x"],
                      ["-H", f"Authorization: Basic {TOKEN}"]):
            status, _, body = curl(port, *wrong)
            check(status == 401 and "secret-customer" not in body, (wrong, status))
        for right in (["-u", f"anyone:{TOKEN}"], ["-H", f"Authorization: Bearer {TOKEN}"]):
            status, headers, body = curl(port, *right)
            check(status == 200 and "secret-customer.example" in body, (right, status, body[:300]))
            check(headers.get("content-type") == "text/html; charset=utf-8", headers)
        # The style sheet too: nothing is served without the token.
        check(curl(port, path="/style.css")[0] == 401, "style.css without the token")
        check(curl(port, "-X", "POST", "-u", f"x:{TOKEN}")[0] == 405, "POST")

        # The browser: refused without credentials, in with them (HTTP Basic).
        browser = Browser()
        try:
            # (Chromium asks for the credentials; headless, nobody answers.)
            browser.get(f"http://127.0.0.1:{port}/")
            check(not browser.find_all("#domains") and "secret-customer" not in browser.driver.page_source,
                  "the list behind a 401")
            browser.get(f"http://status:{TOKEN}@127.0.0.1:{port}/?q=secret")
            found = [a.text for a in browser.find_all("#domains tbody tr td a")]
            check(found == ["secret-customer.example"], found)
        finally:
            browser.stop()


def test_loopback_needs_no_token():
    port = free_port()
    with Stsd(BASE + status_section(f"127.0.0.1:{port}")):
        status, _, body = curl(port)
        check(status == 200 and "<h1>Domains</h1>" in body, (status, body[:200]))


def test_reload_is_all_or_nothing():
    first, second = free_port(), free_port()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    busy_port = busy.getsockname()[1]
    stsd = Stsd(BASE + status_section(f"127.0.0.1:{first}"))
    with stsd:
        check(curl(first)[0] == 200, "the first listener")
        refused = [
            (status_section(f"0.0.0.0:{second}"), "is not a loopback address"),
            (status_section(f"127.0.0.1:{busy_port}"), "status.listen"),
            (status_section(f"0.0.0.0:{second}", "loose.token"), "loose.token"),
            (status_section(f"0.0.0.0:{second}", "missing.token"), "missing.token"),
        ]
        write_token(stsd.dir, "loose.token", mode=0o666)
        for section, words in refused:
            stsd.write_config(BASE + section)
            reload_and_wait(stsd, "reload rejected")
            log_tail = stsd.read_log().splitlines()[-1]
            check(words in log_tail, f"{section}: {log_tail}")
            status, _, _ = curl(first)
            check(status == 200, f"the old page keeps serving, without a token, after: {section}")
            check(curl(second)[0] is None, f"nothing on {second} after a refused reload")

        write_token(stsd.dir)
        stsd.write_config(BASE + status_section(f"0.0.0.0:{second}", "status.token"))
        reload_and_wait(stsd, "config reloaded")
        check(curl(first)[0] is None, "the old listener is closed")
        check(curl(second)[0] == 401, "the new one asks for the token")
        check(curl(second, "-u", f"x:{TOKEN}")[0] == 200, "and takes it")

        # A new token applies at once; the listener stays.
        write_token(stsd.dir, token=TOKEN[::-1])
        stsd.write_config(BASE + status_section(f"0.0.0.0:{second}", "status.token") + "  # token changed\n")
        reload_and_wait(stsd, "config reloaded")
        check(curl(second, "-u", f"x:{TOKEN}")[0] == 401, "the old token is refused")
        check(curl(second, "-u", f"x:{TOKEN[::-1]}")[0] == 200, "the new token is taken")

        stsd.write_config(BASE)
        reload_and_wait(stsd, "config reloaded")
        check(curl(second)[0] is None, "no page once the section is gone")
    busy.close()


if __name__ == "__main__":
    run_tests(None, [test_no_token_off_loopback_is_refused, test_token_asked_off_loopback,
                     test_loopback_needs_no_token, test_reload_is_all_or_nothing])
