"""Every complete example config in the documentation works (CoreDNS's readme_test): each
```yaml block with a top-level `servers:` key in README.md, docs/ and the plugin READMEs
passes `stsd --check-config` as written, then is started with the real binary, answers a
query on every server block, and stops on SIGTERM with exit code 0.

An example runs in a temp folder holding a copy of zones/ (its relative paths are written
for that layout), changed only as far as one machine and parallel tests need:
- every `listen` key (server blocks and services) gets free loopback ports: wildcard and
  other addresses become 127.0.0.1 or ::1 of the same family; a service that listens by
  default (DEFAULT_LISTENERS) gets a free port of its own;
- absolute paths move under the temp folder, so nothing of the machine is read or written;
- what the docs leave to the reader is made: development certificates
  (scripts/dev-certs.sh) in `policy_host.cert_dir` and at `tlsrpt.certificate`/`key`, their
  CA at `confirm.ca_file`, a token
  at `admin.token_file`.
The query comes from each block's chain (QUERY_PICKS order): the SOA of a `file` zone, the
`mtasts` service zone's SOA or `_mta-sts.<domain>` TXT of a domain its policies folder
adds, `version.bind` CH TXT from `chaos`; a block with none of these gets any query and
may answer with any rcode. An example that cannot run on this machine is skipped with the
reason; at most MAX_SKIPPED_SHARE of them may be.
"""
import glob
import ipaddress
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time

import yaml

from harness import (STSD_BIN, SOURCE_DIR, Stsd, TestFailure, build_query, check, free_port, parse_message,
                     run_tests, send_udp)

BLOCK = re.compile(r"```ya?ml\n(.*?)```", re.S)
DOCUMENTS = ["README.md", "docs/*.md", "plugins/*/README.md", "plugins/*/*/README.md", "bench/README.md"]

# Services that listen without a `listen` key, and on which address family.
DEFAULT_LISTENERS = {"metrics": "127.0.0.1"}
MAX_SKIPPED_SHARE = 0.25
LOG_TAIL_LINES = 25
STARTED = " serving on "  # the log line that ends start-up


# --- the examples -------------------------------------------------------------------------

def examples():
    for pattern in DOCUMENTS:
        for path in sorted(glob.glob(os.path.join(SOURCE_DIR, pattern))):
            with open(path) as f:
                text = f.read()
            for match in BLOCK.finditer(text):
                block = match.group(1)
                if re.search(r"^servers:", block, re.M):
                    line = text[:match.start()].count("\n") + 2
                    yield f"{os.path.relpath(path, SOURCE_DIR)}:{line}", block


# YAML kept as the document wrote it: every scalar stays a string (BaseLoader) and is
# written back without the quotes PyYAML's type guessing would add (BaseResolver), so
# `ttl: 300` and `version: "stsd 0.1"` reach stsd as in the document.
class _PlainDumper(yaml.emitter.Emitter, yaml.serializer.Serializer, yaml.representer.SafeRepresenter,
                   yaml.resolver.BaseResolver):
    def __init__(self, stream, default_style=None, default_flow_style=False, sort_keys=False, **emitter_options):
        yaml.emitter.Emitter.__init__(self, stream, **{k: v for k, v in emitter_options.items()
                                                       if k in ("canonical", "indent", "width", "allow_unicode",
                                                                "line_break")})
        yaml.serializer.Serializer.__init__(self)
        yaml.representer.SafeRepresenter.__init__(self, default_style=default_style,
                                                  default_flow_style=default_flow_style, sort_keys=sort_keys)
        yaml.resolver.BaseResolver.__init__(self)


def load_config(text):
    return yaml.load(text, Loader=yaml.BaseLoader)


def dump_config(config):
    return yaml.dump(config, Dumper=_PlainDumper, sort_keys=False)


# --- making an example runnable on loopback in a temp folder -----------------------------

def split_listen(entry):
    """'127.0.0.1:53' -> ('127.0.0.1', '53'); '[::1]:53' -> ('::1', '53'); ':53' -> ('', '53')."""
    m = re.fullmatch(r"\[([^\]]*)\]:(\d+)|([^:\[\]]*):(\d+)", entry.strip())
    if not m:
        raise TestFailure(f"listen entry {entry!r} is not ADDRESS:PORT")
    return (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))


def loopback_host(host):
    """The loopback address of host's family: loopback addresses stay, others (wildcards,
    public addresses, names) become 127.0.0.1 or ::1."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    if address.is_loopback:
        return host
    return "::1" if address.version == 6 else "127.0.0.1"


def join_listen(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Example:
    """One documented config, rewritten into a temp folder."""

    def __init__(self, text, work, dev_certs):
        self.text, self.work, self.dev_certs = text, work, dev_certs
        self.config = load_config(text)
        self.moved = {}      # listen entry as documented (or "<service> default") -> the one used
        self.used_ports = set()

    def move_to_loopback(self):
        self.config = self.rewrite(self.config)
        for service, host in DEFAULT_LISTENERS.items():
            section = self.config.get(service)
            if service in self.config and not (isinstance(section, dict) and "listen" in section):
                self.config[service] = dict(section or {}, listen=[join_listen(host, self.free_port(host))])
                self.moved[f"{service} default"] = self.config[service]["listen"][0]

    def runnable_config(self):
        self.provide_files()
        return dump_config(self.config)

    def free_port(self, host):
        while True:
            port = free_port(host)
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port

    def loopback(self, entry):
        if entry not in self.moved:
            host = loopback_host(split_listen(entry)[0])
            self.moved[entry] = join_listen(host, self.free_port(host))
        return self.moved[entry]

    def rewrite(self, node, key=None):
        if isinstance(node, dict):
            return {k: self.rewrite(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [self.rewrite(v, key) for v in node]
        if key == "listen":
            return self.loopback(node)
        if isinstance(node, str) and node.startswith("/"):
            moved = os.path.join(self.work, "root", node.lstrip("/"))
            os.makedirs(os.path.dirname(moved), exist_ok=True)
            return moved
        return node

    def path(self, value):
        return value if os.path.isabs(value) else os.path.join(self.work, value)

    def provide_files(self):
        policy_host = self.config.get("policy_host")
        if isinstance(policy_host, dict) and "cert_dir" in policy_host:
            shutil.copytree(os.path.join(self.dev_certs(), "certs"), self.path(policy_host["cert_dir"]),
                            dirs_exist_ok=True)
        confirm = self.config.get("confirm")
        if isinstance(confirm, dict) and "ca_file" in confirm:
            shutil.copy(os.path.join(self.dev_certs(), "ca", "ca.pem"), self.path(confirm["ca_file"]))
        tlsrpt = self.config.get("tlsrpt")
        if isinstance(tlsrpt, dict) and "certificate" in tlsrpt:
            for key, suffix in (("certificate", ".crt"), ("key", ".key")):
                os.makedirs(os.path.dirname(self.path(tlsrpt[key])), exist_ok=True)
                shutil.copy(os.path.join(self.dev_certs(), "certs", "mta-sts.example.com" + suffix),
                            self.path(tlsrpt[key]))
        admin = self.config.get("admin")
        if isinstance(admin, dict) and "token_file" in admin and not os.path.exists(self.path(admin["token_file"])):
            with open(self.path(admin["token_file"]), "w") as f:
                f.write("%064x\n" % random.getrandbits(256))

    def skip_reason(self):
        if self.needs_ipv6() and not ipv6_loopback_works():
            return "it listens on IPv6 and this machine cannot bind ::1"
        if ("policy_host" in self.config or "tlsrpt" in self.config) and shutil.which("openssl") is None:
            return "the policy host needs certificates and scripts/dev-certs.sh needs openssl, which is missing"
        return None

    def needs_ipv6(self):
        return any(":" in split_listen(address)[0] for address in self.moved.values())

    def servers(self):
        return self.config.get("servers") or []

    def policy_domains(self):
        folder = self.config.get("policies")
        if isinstance(folder, dict):
            folder = folder.get("folder")
        if not folder or not os.path.isdir(self.path(folder)):
            return []
        domains = []
        for name in sorted(os.listdir(self.path(folder))):
            stem, ext = os.path.splitext(name)
            if ext in (".yaml", ".yml"):
                with open(os.path.join(self.path(folder), name)) as f:
                    domains.append((load_config(f.read()) or {}).get("domain", stem))
        return domains


def ipv6_loopback_works():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class DevCertificates:
    """scripts/dev-certs.sh run once: certs/ (mta-sts.example.com) and ca/ in one folder."""

    def __init__(self):
        self.folder = None

    def __call__(self):
        if self.folder is None:
            folder = tempfile.mkdtemp(prefix="stsd-doc-certs-")
            subprocess.run([os.path.join(SOURCE_DIR, "scripts", "dev-certs.sh"), os.path.join(folder, "certs"),
                            "example.com"], check=True, capture_output=True, timeout=60)
            self.folder = folder
        return self.folder

    def remove(self):
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


# --- the queries ----------------------------------------------------------------------------

class Ask:
    """One query and what its answer must be: rcode None accepts any rcode; holds, a
    (section, type) the answer must have a record of; text, that record's TXT strings."""

    def __init__(self, name, rtype, cls="IN", rcode=None, holds=None, text=None):
        self.name, self.rtype, self.cls, self.rcode, self.holds, self.text = name, rtype, cls, rcode, holds, text

    def __str__(self):
        return f"{self.name} {self.cls} {self.rtype}"


def ask_file(plugins, example):
    zones = plugins.get("file") or []
    return [Ask(zones[0]["zone"], "SOA", rcode="NOERROR", holds=("answer", "SOA"))] if zones else []


def ask_mtasts(plugins, example):
    mtasts = plugins.get("mtasts") or {}
    if mtasts.get("service_zone"):
        return [Ask(mtasts["service_zone"], "SOA", rcode="NOERROR", holds=("answer", "SOA"))]
    domains = example.policy_domains()
    if domains:
        # RFC 8461 §3.1: no TXT record before a version is confirmed; the apex answers NODATA.
        return [Ask(f"_mta-sts.{domains[0]}", "TXT", rcode="NOERROR", holds=("authority", "SOA"))]
    return [Ask("_mta-sts.example.com", "TXT")]


def ask_chaos(plugins, example):
    chaos = plugins.get("chaos") or {}
    version = chaos.get("version")
    return [Ask("version.bind", "TXT", cls="CH", rcode="NOERROR", holds=("answer", "TXT"),
                text=(version,) if version else None)]


QUERY_PICKS = [("file", ask_file), ("mtasts", ask_mtasts), ("chaos", ask_chaos)]
CLASSES = {"IN": 1, "CH": 3}


def planned_queries(block, example):
    plugins = block.get("plugins") or {}
    asks = [a for plugin, pick in QUERY_PICKS if plugin in plugins for a in pick(plugins, example)]
    return asks or [Ask("example.com", "SOA")]


def first_address(block):
    listen = block["listen"]
    host, port = split_listen(listen[0] if isinstance(listen, list) else listen)
    return host, int(port)


def check_answer(address, ask):
    qid = random.randint(0, 65535)
    try:
        raw = send_udp(*address, build_query(ask.name, ask.rtype, qid=qid, flags=0, cls=CLASSES[ask.cls]))
    except (socket.timeout, OSError) as e:
        raise TestFailure(f"{ask} to {join_listen(*address)}: no answer ({e})")
    answer = parse_message(raw)
    problem = None
    if answer.id != qid or "qr" not in answer.flags:
        problem = f"not a response to the query (id {answer.id}, sent {qid})"
    elif ask.rcode is not None and answer.rcode != ask.rcode:
        problem = f"rcode {answer.rcode}, expected {ask.rcode}"
    elif ask.holds is not None and not answer.rdatas(ask.holds[1], ask.holds[0]):
        problem = f"no {ask.holds[1]} in the {ask.holds[0]} section"
    elif ask.text is not None and ask.text not in answer.rdatas(ask.holds[1], ask.holds[0]):
        problem = f"{ask.holds[1]} {answer.rdatas(ask.holds[1], ask.holds[0])}, expected {ask.text}"
    if problem:
        raise TestFailure(f"{ask} to {join_listen(*address)}: {problem}: {answer}")
    return f"{join_listen(*address)} {ask}: {answer.rcode}"


# --- running one example --------------------------------------------------------------------

def check_config(text, work):
    config = os.path.join(work, "documented.yaml")
    with open(config, "w") as f:
        f.write(text)
    p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", config], capture_output=True,
                       text=True, timeout=30, cwd=work)
    if p.returncode != 0:
        raise TestFailure(f"--check-config: {p.stderr.strip()}")


def run_example(example):
    """(outcome, None) or (None, why it was skipped); raises TestFailure with the log tail."""
    shutil.copytree(os.path.join(SOURCE_DIR, "zones"), os.path.join(example.work, "zones"))
    check_config(example.text, example.work)
    example.move_to_loopback()
    reason = example.skip_reason()
    if reason:
        return None, reason
    config = example.runnable_config()
    blocks = example.servers()
    host, port = first_address(blocks[0])
    server = Stsd(config, host=host, port=port, workdir=example.work)
    try:
        try:
            server.start()
            wait_until_started(server)
            answers = [check_answer(first_address(block), ask) for block in blocks
                       for ask in planned_queries(block, example)]
            code = server.stop()
        except TestFailure as e:
            raise TestFailure(f"{str(e).splitlines()[0]}\n{log_tail(server)}")
        if code != 0:
            raise TestFailure(f"exit code {code} after SIGTERM, expected 0\n{log_tail(server)}")
        return "; ".join(answers) + "; SIGTERM: exit 0", None
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if server.proc:
            server.log.close()


def wait_until_started(server, timeout=15):
    """Until stsd logs that start-up is over. Its DNS sockets answer before the services
    have started and before SIGTERM is handled, so a SIGTERM right after the first answer
    may still kill it by the default action (exit -15)."""
    deadline = time.time() + timeout
    while STARTED not in server.read_log():
        if server.proc.poll() is not None or time.time() > deadline:
            raise TestFailure(f"stsd did not log '{STARTED}' within {timeout}s (exit code {server.proc.poll()})")
        time.sleep(0.02)


def log_tail(server):
    lines = server.read_log().splitlines()[-LOG_TAIL_LINES:]
    return "---- stsd log (last %d lines) ----\n%s" % (len(lines), "\n".join(lines))


def test_every_example_config_starts_and_answers():
    dev_certs = DevCertificates()
    found, failures, skipped = 0, [], []
    try:
        for where, text in examples():
            found += 1
            work = tempfile.mkdtemp(prefix="stsd-doc-")
            started = time.time()
            try:
                outcome, reason = run_example(Example(text, work, dev_certs))
                if reason:
                    skipped.append(f"{where}: {reason}")
                    print(f"SKIP {where}: {reason}", flush=True)
                else:
                    print(f"ok   {where}: {outcome} ({time.time() - started:.1f}s)", flush=True)
                shutil.rmtree(work)
            except Exception as e:
                reason = str(e) if isinstance(e, TestFailure) else f"{type(e).__name__}: {e}"
                failures.append(f"{where}: {reason}")
                print(f"FAIL {where}: {reason}\n(config and log kept in {work})", flush=True)
    finally:
        dev_certs.remove()
    print(f"{found} example configs: {found - len(failures) - len(skipped)} ran, {len(skipped)} skipped, "
          f"{len(failures)} failed")
    if skipped:
        print("skipped:\n  " + "\n  ".join(skipped))
    check(found >= 3, f"only {found} example configs found")
    check(len(skipped) <= MAX_SKIPPED_SHARE * found,
          f"{len(skipped)} of {found} examples skipped, more than {MAX_SKIPPED_SHARE:.0%}")
    check(not failures, "\n".join(failures))


if __name__ == "__main__":
    run_tests(None, [test_every_example_config_starts_and_answers])
