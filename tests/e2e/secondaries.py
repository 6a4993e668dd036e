"""Real secondaries for end-to-end tests and the bench: knotd and named on free loopback
ports, each in its own temp folder, configured as secondaries of a given primary with a
TSIG key, consuming the primary's catalog zone (RFC 9432) and accepting its NOTIFYs.

    from secondaries import TsigKey, KnotSecondary, BindSecondary

    key = TsigKey.generate("xfr-key")
    with KnotSecondary(("127.0.0.1", 5300), key, "catalog.stsd.invalid.") as knot, \\
         BindSecondary(("127.0.0.1", 5300), key, "catalog.stsd.invalid.") as bind:
        knot.wait_serial("_mta-sts.example.com.", 2026113001, timeout=10)
        knot.query("_mta-sts.example.com.", "TXT")     # harness.Answer
        knot.last_transfer("_mta-sts.example.com.")    # "IXFR" or "AXFR"

The secondaries' configs are the deployment guide's templates (docs/secondaries/*.conf)
with their ${...} placeholders filled in, so the guide shows what the suite runs.
`KnotPrimary` is a Knot primary serving zones and a catalog from files: the
reference the bench compares stsd with, and what validates this module without stsd.

A secondary's log tells how each zone was transferred (wording checked on Knot 3.2.6 and
BIND 9.18.49 against the Knot primary):
- knotd: "[zone.] AXFR, incoming, remote ..., finished, ..." or "[zone.] IXFR, incoming,
  remote ..., finished, ..."; an IXFR answered in AXFR style (RFC 1995 §4) logs
  "IXFR, incoming, ..., receiving AXFR-style IXFR" and then finishes as an AXFR.
- named (at debug level 3, hence `-d 3`): "transfer of 'zone/IN' from ADDR#PORT: got
  incremental response" or "... got nonincremental response" (AXFR style), then
  "... Transfer completed: ..."; a first transfer is a plain AXFR with neither line.
"""
import base64
import hashlib
import os
import re
import secrets
import shutil
import signal as signals
import string
import subprocess
import tempfile
import time

from harness import SOURCE_DIR, TestFailure, _OWN_DIRS, free_port, kdig, query

TEMPLATES = os.path.join(SOURCE_DIR, "docs", "secondaries")
STOP_TIMEOUT = 15
START_TIMEOUT = 15


class TsigKey:
    """A TSIG key (RFC 8945): name, algorithm as Knot/BIND/kdig spell it, base64 secret."""

    def __init__(self, name, secret, algorithm="hmac-sha256"):
        self.name, self.secret, self.algorithm = name.rstrip("."), secret, algorithm

    @classmethod
    def generate(cls, name="xfr-key", algorithm="hmac-sha256"):
        return cls(name, base64.b64encode(secrets.token_bytes(32)).decode(), algorithm)

    def kdig_arg(self):
        """kdig's -y argument: ALGORITHM:NAME:SECRET."""
        return f"{self.algorithm}:{self.name}:{self.secret}"


def serial_newer(a, b):
    """True when serial `a` is after `b` in RFC 1982 arithmetic (32 bits)."""
    return a != b and ((a - b) % 2**32) < 2**31


def fill_template(name, values):
    """A docs/secondaries template with every ${...} placeholder replaced; a placeholder
    left without a value is an error naming it."""
    with open(os.path.join(TEMPLATES, name)) as f:
        text = f.read()
    try:
        return string.Template(text).substitute(values)
    except KeyError as missing:
        raise TestFailure(f"{name}: no value for placeholder {missing}") from None


class Server:
    """A name server process on a free loopback port with its own temp folder; the part
    knotd and named share: start, stop, query, wait for serials, read the log."""

    kind = "server"

    def __init__(self, host="127.0.0.1", port=None, workdir=None):
        self.host = host
        self.port = port or free_port(host)
        self.dir = workdir or tempfile.mkdtemp(prefix=f"stsd-e2e-{self.kind}-")
        self._own_dir = workdir is None  # removed after a passing run (harness, confirm_env)
        if self._own_dir:
            _OWN_DIRS.append(self.dir)
        self.log_path = os.path.join(self.dir, f"{self.kind}.log")
        self.proc = None
        self._output = None

    @property
    def address(self):
        return (self.host, self.port)

    # --- process ---------------------------------------------------------------------

    def command(self):
        raise NotImplementedError

    def write_config(self):
        raise NotImplementedError

    def start(self):
        self.write_config()
        self._output = open(os.path.join(self.dir, f"{self.kind}.out"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._output, stderr=subprocess.STDOUT, cwd=self.dir)
        self._wait_answering()
        return self

    def _wait_answering(self):
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"{self.kind} exited with {self.proc.returncode}:\n{self.diagnostics()}")
            try:
                kdig(self.address, ".", "SOA", timeout=1)
                return
            except TestFailure:
                time.sleep(0.1)
        raise TestFailure(f"{self.kind} did not answer on port {self.port} within {START_TIMEOUT}s:\n"
                          f"{self.diagnostics()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signals.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._output:
            self._output.close()
            self._output = None

    def __enter__(self):
        return self if self.proc is not None and self.proc.poll() is None else self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # --- observing ------------------------------------------------------------------

    def read_log(self):
        """The daemon's log, then what it printed (start-up errors)."""
        text = ""
        for path in (self.log_path, os.path.join(self.dir, f"{self.kind}.out")):
            try:
                with open(path, "rb") as f:
                    text += f.read().decode(errors="replace")
            except OSError:
                pass
        return text

    def diagnostics(self, lines=40):
        return f"---- {self.kind} log (last {lines} lines) ----\n" + "\n".join(self.read_log().splitlines()[-lines:])

    def query(self, name, rtype="A", tcp=False, args=()):
        """The answer (harness.Answer, parsed from the real kdig) of this server."""
        return kdig(self.address, name, rtype, tcp=tcp, args=args)

    def serial(self, zone):
        """The SOA serial this server serves for `zone`, or None when it serves none
        (asked with the harness's stdlib client: waits poll hundreds of zones)."""
        try:
            a = query(self.address, zone, "SOA", flags=0, timeout=1.0)
        except OSError:
            return None
        zone = zone.lower().rstrip(".") + "."
        if a.rcode != "NOERROR" or "aa" not in a.flags:
            return None
        for name, _, _, rtype, rdata in a.answer:
            if rtype == "SOA" and name == zone:
                return rdata[2]
        return None

    def serves(self, zone):
        return self.serial(zone) is not None

    def wait_serial(self, zone, serial, timeout=10, exact=False):
        """Waits until `zone` is served with `serial` (or a newer one unless `exact`);
        returns the serial served. Fails after `timeout` seconds naming what it saw."""
        deadline = time.time() + timeout
        seen = None
        while True:
            seen = self.serial(zone)
            if seen is not None and (seen == serial or (not exact and serial_newer(seen, serial))):
                return seen
            if time.time() >= deadline:
                raise TestFailure(f"{self.kind} serves {zone} with serial {seen} after {timeout}s, "
                                  f"expected {serial}{'' if exact else ' or newer'}\n{self.diagnostics()}")
            time.sleep(0.1)

    def wait_zones(self, zones, present=True, timeout=30):
        """Waits until every zone in `zones` is served (present) or none is (not present)."""
        deadline = time.time() + timeout
        pending = list(zones)
        while pending:
            pending = [z for z in pending if self.serves(z) != present]
            if not pending:
                return
            if time.time() >= deadline:
                state = "not served" if present else "still served"
                raise TestFailure(f"{self.kind}: {len(pending)} zones {state} after {timeout}s, e.g. "
                                  f"{pending[:3]}\n{self.diagnostics()}")
            time.sleep(0.2)

    def log_mark(self):
        """A point in the log: `transfers(since=mark)` sees only what came after it."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def transfers(self, zone=None, since=0):
        """The incoming transfers the log shows, oldest first, as (zone, "AXFR"|"IXFR");
        only those of `zone` when given, only after the log_mark `since`."""
        zone = zone and zone.lower().rstrip(".") + "."
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                log = f.read().decode(errors="replace")
        except OSError:
            log = ""
        return [(z, kind) for z, kind in self._parse_transfers(log) if zone in (None, z)]

    def last_transfer(self, zone):
        """How `zone` was last transferred ("AXFR" or "IXFR"), None when never."""
        done = self.transfers(zone)
        return done[-1][1] if done else None

    def _parse_transfers(self, log):
        raise NotImplementedError


class CatalogSecondary(Server):
    """A secondary of `primary` (address, port) consuming `catalog`, every transfer signed
    with `key`: what its config template (docs/secondaries/) is filled with."""

    def __init__(self, primary, key, catalog, **kwargs):
        super().__init__(**kwargs)
        self.primary, self.key, self.catalog = primary, key, catalog.rstrip(".") + "."

    def config_values(self):
        return {"DIR": self.dir, "LOG_FILE": self.log_path, "LISTEN_ADDRESS": self.host, "LISTEN_PORT": self.port,
                "KEY_NAME": self.key.name, "KEY_ALGORITHM": self.key.algorithm, "KEY_SECRET": self.key.secret,
                "PRIMARY_ADDRESS": self.primary[0], "PRIMARY_PORT": self.primary[1], "CATALOG": self.catalog}


class KnotSecondary(CatalogSecondary):
    """knotd as a catalog-consuming secondary (docs/secondaries/knot-secondary.conf)."""

    kind = "knotd"
    # "[z.] IXFR, incoming, remote 127.0.0.1@5300 TSIG xfr-key, finished, ..." and, for an
    # IXFR answered in AXFR style, "[z.] AXFR, incoming, ..., finished" after "receiving
    # AXFR-style IXFR".
    _FINISHED = re.compile(r"\[([^\]]+)\] (AXFR|IXFR), incoming, .*finished")

    def write_config(self):
        self.config_path = os.path.join(self.dir, "knot.conf")
        with open(self.config_path, "w") as f:
            f.write(fill_template("knot-secondary.conf", self.config_values()))

    def command(self):
        return ["knotd", "-c", self.config_path]

    def _parse_transfers(self, log):
        for m in self._FINISHED.finditer(log):
            yield m.group(1).lower(), m.group(2)


class BindSecondary(CatalogSecondary):
    """named as a catalog-consuming secondary (docs/secondaries/named-secondary.conf)."""

    kind = "named"
    _ZONE_LINE = re.compile(r"transfer of '([^/']+)/IN' from \S+: (.*)")

    def write_config(self):
        self.config_path = os.path.join(self.dir, "named.conf")
        with open(self.config_path, "w") as f:
            f.write(fill_template("named-secondary.conf", self.config_values()))
        # named -f reports a config error to syslog only; named-checkconf tells it here.
        p = subprocess.run(["named-checkconf", self.config_path], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise TestFailure(f"named-checkconf {self.config_path}: {p.stdout}{p.stderr}")

    def command(self):
        # -f: in the foreground, logging as the config says (to the log file); -d 3: the
        # level at which named tells an incremental transfer from a full one.
        return ["named", "-f", "-d", "3", "-c", self.config_path]

    def _parse_transfers(self, log):
        # Per zone: the kind of the response ("incremental"/"nonincremental") is logged
        # before "Transfer completed"; pair them up in order.
        kind_of = {}
        for m in self._ZONE_LINE.finditer(log):
            zone, what = m.group(1).lower().rstrip(".") + ".", m.group(2)
            if "got nonincremental response" in what:
                kind_of[zone] = "AXFR"
            elif "got incremental response" in what:
                kind_of[zone] = "IXFR"
            elif what.startswith("Transfer completed"):
                yield zone, kind_of.pop(zone, "AXFR")


class KnotPrimary(Server):
    """knotd as a primary: zones from files, a catalog zone (RFC 9432 v2) listing them,
    TSIG-protected transfers, NOTIFY to the given secondaries. `set_zone` rewrites a zone
    file and reloads it (Knot computes the difference for IXFR and bumps the serial);
    `add_zone`/`remove_zone` change the member set and the catalog.

    The catalog is a zone file this class writes, not Knot's `catalog-role: generate`:
    Knot answers REFUSED to any non-transfer query in a generated catalog, and BIND's
    refresh starts with an SOA query, so BIND could never load it."""

    kind = "knot-primary"

    def __init__(self, zones, key, catalog, notify=(), **kwargs):
        """zones: {apex: zone file text}; notify: [(host, port)] of the secondaries."""
        super().__init__(**kwargs)
        self.zones, self.key, self.catalog = dict(zones), key, catalog.rstrip(".") + "."
        self.notify = list(notify)
        self.zone_dir = os.path.join(self.dir, "zones")
        self.socket = os.path.join(self.dir, "knot.sock")
        self.catalog_serial = 1

    def zone_path(self, apex):
        return os.path.join(self.zone_dir, apex.rstrip(".") + ".zone")

    def catalog_text(self):
        members = "".join(f"{hashlib.sha1(apex.lower().encode()).hexdigest()[:16]}.zones IN PTR {apex}\n"
                          for apex in sorted(self.zones))
        return (f"$ORIGIN {self.catalog}\n$TTL 0\n"
                f"@ IN SOA invalid. invalid. {self.catalog_serial} 3600 600 2147483646 0\n"
                f"@ IN NS invalid.\nversion IN TXT \"2\"\n{members}")

    def write_config(self):
        os.makedirs(self.zone_dir, exist_ok=True)
        for apex, text in self.zones.items():
            with open(self.zone_path(apex), "w") as f:
                f.write(text)
        with open(self.zone_path(self.catalog), "w") as f:
            f.write(self.catalog_text())
        notify_ids = [f"secondary{i}" for i in range(len(self.notify))]
        remotes = "".join(f"  - id: {rid}\n    address: {host}@{port}\n    key: {self.key.name}\n"
                          for rid, (host, port) in zip(notify_ids, self.notify))
        notify = f"    notify: [{', '.join(notify_ids)}]\n" if notify_ids else ""
        members = "".join(f"  - domain: {apex}\n    template: member\n" for apex in self.zones)
        self.config_path = os.path.join(self.dir, "knot.conf")
        with open(self.config_path, "w") as f:
            f.write(f"""server:
    rundir: "{self.dir}"
    listen: {self.host}@{self.port}
control:
    listen: "{self.socket}"
log:
  - target: "{self.log_path}"
    any: info
database:
    storage: "{self.dir}"
key:
  - id: {self.key.name}
    algorithm: {self.key.algorithm}
    secret: {self.key.secret}
{"remote:" + chr(10) + remotes if remotes else ""}acl:
  - id: transfer
    address: 127.0.0.0/8
    key: {self.key.name}
    action: transfer
template:
  - id: default
    storage: "{self.zone_dir}"
    file: "%s.zone"
    acl: transfer
{notify}    zonefile-load: difference
    journal-content: all
  - id: member
    storage: "{self.zone_dir}"
    file: "%s.zone"
    acl: transfer
{notify}    zonefile-load: difference-no-serial
    serial-policy: unixtime
    journal-content: all
zone:
  - domain: {self.catalog}
{members}""")

    def command(self):
        return ["knotd", "-c", self.config_path]

    def knotc(self, *args):
        # knotd 3.2 binds its control socket once and accepts one command at a time
        # (backlog 5), so a refusal that lasts means knotd is gone: say so with its log.
        deadline = time.time() + 10
        while True:
            p = subprocess.run(["knotc", "-s", self.socket, *args], capture_output=True, text=True, timeout=60)
            if p.returncode == 0:
                return p.stdout
            if self.proc is not None and self.proc.poll() is not None:
                raise TestFailure(f"knotc {' '.join(args)}: knotd exited with {self.proc.returncode} "
                                  f"(a negative value is the signal that ended it):\n{self.diagnostics()}")
            if "connection refused" not in p.stdout + p.stderr or time.time() >= deadline:
                raise TestFailure(f"knotc {' '.join(args)} exited {p.returncode}: {p.stdout}{p.stderr}\n"
                                  f"{self.diagnostics()}")
            time.sleep(0.1)

    def set_zone(self, apex, text):
        """Rewrites `apex`'s zone file and reloads it: a new serial and a NOTIFY."""
        self.zones[apex] = text
        with open(self.zone_path(apex), "w") as f:
            f.write(text)
        self.knotc("-b", "zone-reload", apex)  # -b: returns once the new serial is served

    def add_zone(self, apex, text):
        self.zones[apex] = text
        self._change_members()

    def remove_zone(self, apex):
        del self.zones[apex]
        self._change_members(removed=[apex])

    def _change_members(self, removed=()):
        self.catalog_serial += 1
        self.write_config()
        self.knotc("-b", "reload")
        # The next change waits until this one is served: a reload while the previous
        # one's zone loads and NOTIFYs are still running is a path the tests do not mean
        # to exercise in Knot.
        self.wait_serial(self.catalog, self.catalog_serial, timeout=10, exact=True)
        self.wait_zones(list(self.zones), timeout=10)
        self.wait_zones(removed, present=False, timeout=10)

    def _parse_transfers(self, log):
        return iter(())


def axfr(server, zone, key=None, rtype="AXFR", serial=0, source=None, timeout=5):
    """A zone transfer with the real kdig over TCP: AXFR, or IXFR from `serial`; signed
    with `key` (a TsigKey) when given, from the local address `source` when given.
    Returns (records as (name, ttl, class, type, rdata-text), kdig's whole output)."""
    host, port = server
    cmd = ["kdig", f"@{host}", "-p", str(port), "+tcp", f"+time={timeout}", "+retry=0",
           "-t", "AXFR" if rtype == "AXFR" else f"IXFR={serial}", zone]
    if key is not None:
        cmd += ["-y", key.kdig_arg()]
    if source is not None:
        cmd += ["-b", source]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    text = p.stdout + p.stderr
    records = []
    for line in p.stdout.splitlines():
        parts = line.split(None, 4)
        if line.startswith(";") or len(parts) < 4 or parts[2] not in ("IN", "CH"):
            continue
        records.append((parts[0].lower(), int(parts[1]), parts[2], parts[3], parts[4] if len(parts) > 4 else ""))
    return records, text


def missing_tool():
    """The name of a program the secondaries need that is not installed, or None."""
    for tool in ("knotd", "knotc", "named", "named-checkconf", "kdig"):
        if shutil.which(tool) is None:
            return tool
    return None
