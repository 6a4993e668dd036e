"""stsctl + the admin API + the real stsd, checked with kdig: add / stage / confirm
publishes the id (UDP and TCP, both delegation modes), staging never moves it, the
socket is private, every way of choosing the server works, the TCP listener wants its
token."""
import json
import os
import signal
import stat
import subprocess
import tempfile

from admin_e2e import CONFIG, SERVICE_ZONE, served_id, stsctl, stsctl_json, stsctl_path, wait_for
from harness import Stsd, check, free_port, kdig, run_tests


def test_add_stage_confirm_publishes_the_id(server):
    p = stsctl(server, "domain", "add", "example.com", "--tlsrpt-rua", "mailto:tls@example.com")
    check("added example.com" in p.stdout, p)
    check(served_id(server, "example.com") is None, "a domain with nothing confirmed has no TXT record")

    p = stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx1.example.com",
               "--mx", "*.mail.example.com", "--max-age", "604800")
    check("staged example.com version 1" in p.stdout, p)
    check(served_id(server, "example.com") is None, "staging must not publish anything")
    p = stsctl(server, "status", "example.com")
    check("waiting for confirmation" in p.stdout and "no TXT record" in p.stdout, p.stdout)

    p = stsctl(server, "policy", "confirm", "example.com", "--version", "1", "--reason", "checked with curl")
    check("confirmed example.com version 1" in p.stdout, p)
    status = stsctl_json(server, "status", "example.com")
    id1 = status["served_id"]
    check(id1 and "v1d" in id1, status)
    for tcp in (False, True):
        for mode in ("cname", "ns"):
            check(served_id(server, "example.com", tcp=tcp, mode=mode) == id1, f"tcp={tcp} mode={mode}")

    # A new staged version leaves the id alone until it is confirmed.
    p = stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx1.example.com",
               "--mx", "mx2.example.com", "--max-age", "604800")
    check("staged example.com version 2" in p.stdout and "keep getting version 1" in p.stdout, p)
    check(served_id(server, "example.com") == id1, "a staged version must not move the id")
    stsctl(server, "policy", "confirm", "example.com", "--version", "2", "--reason", "deployed")
    id2 = served_id(server, "example.com", tcp=True)
    check(id2 != id1 and "v2d" in id2, (id1, id2))

    # Staging the same policy again stages nothing.
    p = stsctl(server, "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mx1.example.com",
               "--mx", "mx2.example.com", "--max-age", "604800")
    check("unchanged" in p.stdout, p)

    answer = kdig(server, "_smtp._tls.example.com." + SERVICE_ZONE, "TXT")
    check([rr[4] for rr in answer.answer] == ['"v=TLSRPTv1; rua=mailto:tls@example.com"'], answer)

    p = stsctl(server, "status", "example.com")
    for words in ("served now:", id2, "confirmed by hand", "deployed", "next rotation:", "recent events"):
        check(words in p.stdout, f"status lacks {words!r}:\n{p.stdout}")


def test_policy_show_prints_the_file_to_serve(server):
    stsctl(server, "domain", "add", "show.example")
    stsctl(server, "policy", "stage", "show.example", "--mode", "testing", "--mx", "MX.show.example", "--max-age", "86400")
    p = subprocess.run([stsctl_path(), "policy", "show", "show.example"], capture_output=True, cwd=server.dir, timeout=60)
    check(p.returncode == 0, p)
    check(p.stdout == b"version: STSv1\r\nmode: testing\r\nmx: mx.show.example\r\nmax_age: 86400\r\n", p.stdout)
    check(b"no confirmed version" in p.stderr, p.stderr)
    p = stsctl(server, "policy", "show", "show.example", "--version", "2", rc=1)
    check("has no version 2" in p.stderr, p)


def test_policy_file_is_parsed_by_the_server(server):
    stsctl(server, "domain", "add", "file.example")
    path = os.path.join(server.dir, "mta-sts.txt")
    with open(path, "w") as f:
        f.write("version: STSv1\nmode: enforce\nmx: mail.file.example\nmax_age: 3600\n")
    p = stsctl(server, "policy", "stage", "file.example", "--policy-file", path)
    check("staged file.example version 1" in p.stdout, p)
    check("warning:" in p.stderr and "max_age" in p.stderr, "a short max_age should be warned about: " + p.stderr)
    with open(path, "w") as f:
        f.write("version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 86400\n")
    p = stsctl(server, "policy", "stage", "file.example", "--policy-file", path, rc=1)
    check("line 3" in p.stderr, p.stderr)


def test_json_on_read_commands(server):
    stsctl(server, "domain", "add", "json.example")
    listed = stsctl_json(server, "domain", "list")
    check(any(d["domain"] == "json.example" for d in listed["domains"]), listed)
    status = stsctl_json(server, "status", "json.example")
    check(status["domain"] == "json.example" and status["served_id"] is None, status)
    events = stsctl_json(server, "events", "json.example")
    check(events["events"][0]["kind"] == "domain_added", events)
    stsctl(server, "policy", "stage", "json.example", "--mode", "none", "--mx", "mx.json.example", "--max-age", "86400")
    shown = stsctl_json(server, "policy", "show", "json.example")
    check(shown["mode"] == "none" and shown["text"].startswith("version: STSv1\r\n"), shown)
    version = stsctl_json(server, "version")
    check(version["server"] == "stsd", version)


def test_plain_domain_list(server):
    p = stsctl(server, "domain", "list")
    lines = p.stdout.splitlines()
    check(lines[-1].endswith("domains") or lines[-1].endswith("domain"), p.stdout)
    names = [line.split()[0] for line in lines[:-1]]
    check(names == sorted(names), names)


def test_socket_is_private(server):
    mode = os.stat(os.path.join(server.dir, "var/stsd.sock")).st_mode
    check(stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, oct(mode))


def test_server_selection(server):
    elsewhere = tempfile.mkdtemp(prefix="stsctl-cwd-")
    env = dict(os.environ)
    env.pop("STSD_SOCKET", None)

    def run(*args, extra_env=None):
        e = dict(env)
        e.update(extra_env or {})
        return subprocess.run([stsctl_path(), *args], capture_output=True, text=True, cwd=elsewhere, env=e, timeout=60)

    p = run("domain", "list")
    check(p.returncode == 1 and "var/stsd.sock" in p.stderr and "is stsd running" in p.stderr, p)
    p = run("--config", server.config_path, "domain", "list")
    check(p.returncode == 0 and "example" in p.stdout, p)
    p = run("domain", "list", extra_env={"STSD_SOCKET": os.path.join(server.dir, "var/stsd.sock")})
    check(p.returncode == 0, p)
    p = run("--socket", os.path.join(server.dir, "var/stsd.sock"), "version")
    check(p.returncode == 0 and "stsd " in p.stdout, p)
    p = run("--config", os.path.join(elsewhere, "missing.yaml"), "domain", "list")
    check(p.returncode == 2 and "--config" in p.stderr, p)
    os.rmdir(elsewhere)


def test_remove_stops_the_records(server):
    stsctl(server, "domain", "add", "gone.example")
    stsctl(server, "policy", "stage", "gone.example", "--mode", "enforce", "--mx", "mx.gone.example", "--max-age", "86400")
    stsctl(server, "policy", "confirm", "gone.example", "--version", "1", "--reason", "test")
    check(served_id(server, "gone.example") is not None, "confirmed domain must have a record")
    # Its enforce policy is published: senders may hold it, so removal needs --force
    # (RFC 8461 §8.3; `domain retire` is the safe way, e2e_retire.py).
    p = stsctl(server, "domain", "remove", "gone.example", rc=1)
    check("stsctl domain retire gone.example" in p.stderr and "--force" in p.stderr, p)
    check(served_id(server, "gone.example") is not None, "a refused removal changes nothing")
    p = stsctl(server, "domain", "remove", "gone.example", "--force")
    check("removed gone.example (forced)" in p.stdout, p)
    answer = kdig(server, "_mta-sts.gone.example." + SERVICE_ZONE, "TXT")
    check(answer.rcode == "NXDOMAIN" and not answer.answer, answer)
    p = stsctl(server, "status", "gone.example", rc=1)
    check("not in the store" in p.stderr, p)


def test_help_and_usage_errors(server):
    p = stsctl(server, "--help")
    check("policy confirm DOMAIN" in p.stdout and "Exit status" in p.stdout, p)
    p = stsctl(server, "import", "--help")
    check("domain,mode,mx,max_age[,tlsrpt_rua]" in p.stdout, p)
    p = stsctl(server, "help", "policy", "stage")
    check("--policy-file FILE" in p.stdout, p)
    p = stsctl(server, "policy", "confirm", "example.com", "--version", "1", rc=2)
    check("--reason is required" in p.stderr and "stsctl policy confirm --help" in p.stderr, p)
    p = stsctl(server, "bogus", rc=2)
    check("unknown command 'bogus'" in p.stderr, p)


def test_tcp_listener_requires_the_token():
    admin_port = free_port()
    config = CONFIG.replace("admin: { socket: var/stsd.sock }",
                            'admin: { socket: var/stsd.sock, listen: "127.0.0.1:%d", token_file: admin.token }'
                            % admin_port)
    s = Stsd(config)
    with open(os.path.join(s.dir, "admin.token"), "w") as f:
        f.write("e2e-token-0123456789abcdef\n")
    with s:
        url = f"http://127.0.0.1:{admin_port}/v1/server"
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True, text=True,
                           timeout=30)
        check(p.stdout == "401", p)
        p = subprocess.run(["curl", "-s", "-H", "Authorization: Bearer e2e-token-0123456789abcdef", url],
                           capture_output=True, text=True, timeout=30)
        check(json.loads(p.stdout)["server"] == "stsd", p)
        p = subprocess.run(["curl", "-s", "-H", "Authorization: Bearer e2e-token-0123456789abcdeX", url],
                           capture_output=True, text=True, timeout=30)
        check("bearer token" in p.stdout, p)
        token = os.path.join(s.dir, "admin.token")
        p = stsctl(s, "--connect", f"127.0.0.1:{admin_port}", "--token-file", token, "domain", "add", "tcp.example")
        check("added tcp.example" in p.stdout, p)
        # The same store through the socket.
        p = stsctl(s, "domain", "list")
        check("tcp.example" in p.stdout, p)


def test_socket_defaults_to_the_store_folder_without_an_admin_key():
    config = CONFIG.replace("admin: { socket: var/stsd.sock }\n", "")
    with Stsd(config) as s:
        check(os.path.exists(os.path.join(s.dir, "var/stsd.sock")), os.listdir(os.path.join(s.dir, "var")))
        p = stsctl(s, "domain", "add", "default.example")
        check("added" in p.stdout, p)
        p = stsctl(s, "--config", s.config_path, "domain", "list")
        check("default.example" in p.stdout, p)


def test_check_config_validates_the_admin_section():
    s = Stsd(CONFIG.replace("admin: { socket: var/stsd.sock }",
                            'admin: { socket: var/stsd.sock, listen: "127.0.0.1:8053" }'))
    s.write_config()
    p = subprocess.run([os.path.join(os.path.dirname(stsctl_path()), "stsd"), "--check-config", s.config_path],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode != 0 and "token_file" in p.stderr and "stsd.yaml:3" in p.stderr, p)


def test_sighup_moves_the_socket_and_refuses_a_bad_admin_section():
    s = Stsd(CONFIG)
    with s:
        stsctl(s, "domain", "add", "hup.example")
        old = os.path.join(s.dir, "var/stsd.sock")
        new = os.path.join(s.dir, "run/admin.sock")
        s.write_config(CONFIG.replace("admin: { socket: var/stsd.sock }", "admin: { socket: run/admin.sock }"))
        s.signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(new) and not os.path.exists(old), what="the socket to move")
        p = stsctl(s, "--socket", new, "domain", "list")
        check("hup.example" in p.stdout, p)
        # A bad section is refused; the running socket keeps serving.
        s.write_config(CONFIG.replace("admin: { socket: var/stsd.sock }",
                                      'admin: { socket: run/admin.sock, listen: "127.0.0.1:1" }'))
        s.signal(signal.SIGHUP)
        wait_for(lambda: "reload rejected" in s.read_log(), what="the reload to be rejected")
        check("token_file" in s.read_log(), s.read_log())
        p = stsctl(s, "--config", s.config_path, "--socket", new, "domain", "list", rc=2)
        check("only one of" in p.stderr, p)
        p = stsctl(s, "--socket", new, "domain", "list")
        check("hup.example" in p.stdout, p)


if __name__ == "__main__":
    shared = [test_add_stage_confirm_publishes_the_id, test_policy_show_prints_the_file_to_serve,
              test_policy_file_is_parsed_by_the_server, test_json_on_read_commands, test_plain_domain_list,
              test_socket_is_private, test_server_selection, test_remove_stops_the_records, test_help_and_usage_errors]
    standalone = [test_tcp_listener_requires_the_token, test_socket_defaults_to_the_store_folder_without_an_admin_key,
                  test_check_config_validates_the_admin_section,
                  test_sighup_moves_the_socket_and_refuses_a_bad_admin_section]
    # Tests on one shared server first, then those that start their own.
    status = 0
    for config, group in ((CONFIG, shared), (None, standalone)):
        try:
            run_tests(config, group)
        except SystemExit as done:
            status = status or done.code
    raise SystemExit(status)
