"""Zonemaster (zonemaster-cli 5.0.2, Debian 12) against stsd and against knotd serving the
same content: a zone of the `file` plugin (provider.net.), the zones the mtasts plugin
synthesizes in NS mode for example.com. (_mta-sts, _smtp._tls, mta-sts) and its service
zone (CNAME-target mode, sts.provider.net.). Fails when stsd gets a message (NOTICE and
up) that Knot does not get for the same zone. docs/zonemaster.md shows the runs, in the
form `--report` writes.

Zonemaster resolves from the root, queries port 53 only, and flags name server addresses
from IANA's special-purpose registries (loopback, documentation, private use). So the
script runs in a network namespace of its own (it executes itself again under
`unshare --net`, with `--map-root-user` when not root) and puts ordinary unicast
addresses on that namespace's loopback device; no packet leaves the namespace. There,
knotd serves the path down to the zones under test: the root (given to Zonemaster with
--hints), com., net. and arpa. (the name servers' reverse names), and example.com., which
delegates its three MTA-STS names to ns1/ns2.provider.net. The server under test answers
on the addresses of ns1 and ns2.provider.net: first stsd, then knotd serving the same
provider.net. file and, for each synthesized zone, the records stsd served (SOA, NS, TXT,
A and AAAA at each of its names), so that both serve the same data.

    python3 tests/e2e/e2e_zonemaster.py                      # the test (root, or user namespaces)
    python3 tests/e2e/e2e_zonemaster.py --report FILE        # also write the runs as Markdown
    python3 tests/e2e/e2e_zonemaster.py --level DEBUG        # compare every message, not only NOTICE+

Exits 77 (skipped) when no network namespace can be made.
"""
import argparse
import collections
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import STSD_BIN, Stsd, check, kdig, run_tests
from secondaries import Server

NETNS_MARK = "STSD_ZONEMASTER_NETNS"
SKIPPED = 77
LEVELS = ["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"]
FAILING_LEVEL = "NOTICE"
ZONEMASTER_TIMEOUT = 300
# Messages that differ from run to run whatever the server: the start time.
VOLATILE_TAGS = {"START_TIME"}

# Every host of the lab: (IPv4, IPv6), in distinct /24s and /48s, so that Zonemaster's
# address and prefix-diversity checks see what a real deployment shows.
ADDRESSES = {
    "a.root-servers.net.": ("11.0.0.1", "2a0b:0:1::1"),
    "a.gtld-servers.net.": ("11.0.1.1", "2a0b:0:2::1"),
    "ns1.provider.net.": ("11.1.0.1", "2a0b:1:1::1"),
    "ns2.provider.net.": ("11.2.0.1", "2a0b:2:2::1"),
    "ns1.example.com.": ("11.3.0.1", "2a0b:3:3::1"),
    "ns2.example.com.": ("11.4.0.1", "2a0b:4:4::1"),
    "mail.provider.net.": ("11.5.0.25", "2a0b:5:5::25"),
    "mx1.example.com.": ("11.6.0.25", "2a0b:6:6::25"),
}
POLICY_HOST = ("11.7.0.80", "2a0b:7:7::80")
TESTED_SERVERS = ["ns1.provider.net.", "ns2.provider.net."]
FILE_ZONE = "provider.net."
NS_MODE_ZONES = ["_mta-sts.example.com.", "_smtp._tls.example.com.", "mta-sts.example.com."]
# CNAME-target mode: the provider's service zone holds every customer's names.
SERVICE_ZONE = "sts.provider.net."
SYNTHESIZED_ZONES = {**{apex: [apex] for apex in NS_MODE_ZONES},
                     SERVICE_ZONE: [SERVICE_ZONE] + [f"{name}{SERVICE_ZONE}" for name in NS_MODE_ZONES]}
ZONES_UNDER_TEST = [FILE_ZONE] + list(SYNTHESIZED_ZONES)

# What Zonemaster reports (NOTICE and up) for these zones whatever serves them: the lab
# is unsigned (DNSSEC), a name with an underscore is not a host name (SYNTAX01), and the
# synthesized zones have no MX (ZONE09). knotd's run must show exactly these, which
# proves the lab resolves (a broken delegation brings errors) and that Zonemaster ran;
# it also holds the SOA timers stsd synthesizes by default to what Zonemaster accepts
# (ZONE02-06), since knotd serves the SOA stsd served.
UNSIGNED = {"NOT_SIGNED", "NEITHER_DNSKEY_NOR_DS"}
SYNTHESIZED_BASELINE = UNSIGNED | {"Z09_MISSING_MAIL_TARGET"}
KNOT_BASELINE = {
    FILE_ZONE: UNSIGNED,
    "_mta-sts.example.com.": SYNTHESIZED_BASELINE | {"NON_ALLOWED_CHARS"},
    "_smtp._tls.example.com.": SYNTHESIZED_BASELINE | {"NON_ALLOWED_CHARS"},
    "mta-sts.example.com.": SYNTHESIZED_BASELINE,
    SERVICE_ZONE: SYNTHESIZED_BASELINE,
}

# SOA timers of the lab's zones and of provider.net.: values Zonemaster accepts
# (refresh >= 4 h, retry >= 1 h, expire >= 1 week, minimum 300..86400).
SOA_TIMERS = "14400 3600 1209600 300"


def addresses(name):
    v4, v6 = ADDRESSES[name]
    return f"{name} A {v4}\n{name} AAAA {v6}\n"


def soa(apex, mname):
    return f"$TTL 3600\n{apex} SOA {mname} hostmaster.{apex if apex != '.' else 'root.'} 2026113001 {SOA_TIMERS}\n"


def ns(owner, servers):
    return "".join(f"{owner} NS {server}\n" for server in servers)


def reverse_name(address):
    return ipaddress.ip_address(address).reverse_pointer + "."


ROOT_ZONE = (soa(".", "a.root-servers.net.") + ns(".", ["a.root-servers.net."])
             + "".join(ns(tld, ["a.gtld-servers.net."]) for tld in ("com.", "net.", "arpa."))
             + addresses("a.root-servers.net.") + addresses("a.gtld-servers.net."))
NET_ZONE = (soa("net.", "a.gtld-servers.net.") + ns("net.", ["a.gtld-servers.net."])
            + addresses("a.gtld-servers.net.") + addresses("a.root-servers.net.")
            + ns(FILE_ZONE, TESTED_SERVERS) + "".join(addresses(server) for server in TESTED_SERVERS))
COM_ZONE = (soa("com.", "a.gtld-servers.net.") + ns("com.", ["a.gtld-servers.net."])
            + ns("example.com.", ["ns1.example.com.", "ns2.example.com."])
            + addresses("ns1.example.com.") + addresses("ns2.example.com."))
ARPA_ZONE = (soa("arpa.", "a.gtld-servers.net.") + ns("arpa.", ["a.gtld-servers.net."])
             + "".join(f"{reverse_name(a)} PTR {name}\n" for name, pair in ADDRESSES.items() for a in pair))
# The customer's zone: its mail, and the three names delegated to the MTA-STS provider.
EXAMPLE_COM_ZONE = (soa("example.com.", "ns1.example.com.")
                    + ns("example.com.", ["ns1.example.com.", "ns2.example.com."])
                    + addresses("ns1.example.com.") + addresses("ns2.example.com.")
                    + "example.com. MX 10 mx1.example.com.\n" + addresses("mx1.example.com.")
                    + "".join(ns(zone, TESTED_SERVERS) for zone in NS_MODE_ZONES))
# The provider's own zone, served by the `file` plugin.
PROVIDER_ZONE = (soa(FILE_ZONE, "ns1.provider.net.") + ns(FILE_ZONE, TESTED_SERVERS)
                 + "".join(addresses(server) for server in TESTED_SERVERS)
                 + "provider.net. MX 10 mail.provider.net.\n" + addresses("mail.provider.net.")
                 + 'provider.net. TXT "v=spf1 mx -all"\n' + ns(SERVICE_ZONE, TESTED_SERVERS))
HINTS = ". 3600000 NS a.root-servers.net.\n" + addresses("a.root-servers.net.")

STSD_CONFIG = """\
storage: {dir}/store
policies: {dir}/policies
admin:
  socket: {dir}/stsd.sock
servers:
  - listen: [LISTEN]
    plugins:
      mtasts:
        nameservers: [ns1.provider.net., ns2.provider.net.]
        hostmaster: hostmaster.provider.net.
        service_zone: SERVICE_ZONE
        policy_host: { a: [POLICY_HOST_V4], aaaa: ["POLICY_HOST_V6"] }
      file:
        - zone: provider.net.
          path: {dir}/provider.net.zone
"""
POLICY = ("mode: enforce\nmx: [mx1.example.com]\nmax_age: 604800\n"
          "tlsrpt_rua: [mailto:tls-reports@example.com]\n")


class LabKnot(Server):
    """knotd answering `zones` ({apex: zone file text}) on port 53 of every address of
    the hosts `names`."""

    def __init__(self, role, names, zones):
        self.kind = f"knotd-{role}"
        super().__init__(host=ADDRESSES[names[0]][0], port=53)
        self.listen = [a for name in names for a in ADDRESSES[name]]
        self.zones = zones

    def zone_path(self, apex):
        return os.path.join(self.dir, "zones", (apex.rstrip(".") or "root") + ".zone")

    def write_config(self):
        os.makedirs(os.path.join(self.dir, "zones"), exist_ok=True)
        for apex, text in self.zones.items():
            with open(self.zone_path(apex), "w") as f:
                f.write(text)
        zones = "".join(f'  - domain: "{apex}"\n    file: "{self.zone_path(apex)}"\n' for apex in self.zones)
        self.config_path = os.path.join(self.dir, "knot.conf")
        with open(self.config_path, "w") as f:
            f.write(f'server:\n    rundir: "{self.dir}"\n'
                    f"    listen: [{', '.join(a + '@53' for a in self.listen)}]\n"
                    f'log:\n  - target: "{self.log_path}"\n    any: info\n'
                    f'database:\n    storage: "{self.dir}"\n'
                    f"zone:\n{zones}")

    def command(self):
        return ["knotd", "-c", self.config_path]


# --- the network namespace ------------------------------------------------------------

def enter_network_namespace():
    """Executes this script again in a new network namespace; returns only inside it."""
    if os.environ.get(NETNS_MARK):
        return
    unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    probe = subprocess.run(unshare + ["true"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"skipped: cannot create a network namespace ({' '.join(unshare)}): {probe.stderr.strip()}")
        sys.exit(SKIPPED)
    env = dict(os.environ, **{NETNS_MARK: "1"})
    sys.exit(subprocess.run(unshare + [sys.executable, *sys.argv], env=env).returncode)


def configure_addresses():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for v4, v6 in ADDRESSES.values():
        subprocess.run(["ip", "addr", "add", f"{v4}/32", "dev", "lo"], check=True)
        subprocess.run(["ip", "-6", "addr", "add", f"{v6}/128", "dev", "lo", "nodad"], check=True)


# --- the servers -----------------------------------------------------------------------

def infrastructure():
    """The path from the root down to the zones under test."""
    return [LabKnot("root", ["a.root-servers.net."], {".": ROOT_ZONE}),
            LabKnot("tld", ["a.gtld-servers.net."], {"com.": COM_ZONE, "net.": NET_ZONE, "arpa.": ARPA_ZONE}),
            LabKnot("example-com", ["ns1.example.com.", "ns2.example.com."], {"example.com.": EXAMPLE_COM_ZONE})]


def stsd_under_test():
    listen = ", ".join(f'"[{a}]:53"' if ":" in a else f'"{a}:53"'
                       for server in TESTED_SERVERS for a in ADDRESSES[server])
    config = (STSD_CONFIG.replace("LISTEN", listen)
              .replace("SERVICE_ZONE", SERVICE_ZONE).replace("POLICY_HOST_V4", POLICY_HOST[0]).replace("POLICY_HOST_V6", POLICY_HOST[1]))
    stsd = Stsd(config, host=ADDRESSES[TESTED_SERVERS[0]][0], port=53)
    os.makedirs(os.path.join(stsd.dir, "policies"))
    with open(os.path.join(stsd.dir, "policies", "example.com.yaml"), "w") as f:
        f.write(POLICY)
    with open(os.path.join(stsd.dir, "provider.net.zone"), "w") as f:
        f.write(PROVIDER_ZONE)
    return stsd


def confirm_policy(stsd):
    stsd.run("stsctl", "--config", stsd.config_path, "policy", "confirm", "example.com", "--version", "1",
             "--reason", "zonemaster lab")
    r = kdig(stsd, "_mta-sts.example.com.", "TXT")
    check(r.rcode == "NOERROR" and len(r.rdatas("TXT")) == 1, r)


def served_zone(stsd, names):
    """A synthesized zone as a zone file: the records stsd serves at `names` (the apex
    first; no synthesized zone holds other types)."""
    lines = []
    for name in names:
        for rtype in ("SOA", "NS", "TXT", "A", "AAAA"):
            r = kdig(stsd, name, rtype)
            check(r.rcode == "NOERROR" and "aa" in r.flags, r)
            lines += [" ".join(map(str, rr)) for rr in r.answer if rr[0] == name and rr[3] == rtype]
    check(" SOA " in lines[0] and len(lines) > 2, (names, lines))
    return "\n".join(lines) + "\n"


# --- zonemaster ------------------------------------------------------------------------

def zonemaster(zone, hints_path, level):
    """One zonemaster-cli run: its messages at `level` and up, as dicts (level, module,
    testcase, tag, args, message)."""
    cmd = ["zonemaster-cli", "--json-stream", "--json-translate", "--no-progress", "--level", level,
           "--hints", hints_path, zone]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=ZONEMASTER_TIMEOUT,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    check(p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    messages = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return [m for m in messages if m["tag"] not in VOLATILE_TAGS]


def comparable(message):
    """What must match between the two servers. Zonemaster randomizes the letter case of
    query names (NAMESERVER08/09) and lists servers in the order their answers came, so
    arguments are lowercased and lists sorted."""
    args = {}
    for key, value in (message.get("args") or {}).items():
        if isinstance(value, str):
            value = value.lower()
            for separator in (";", ","):
                if separator in value:
                    value = separator.join(sorted(value.split(separator)))
        args[key] = value
    return (message["level"], message["module"], message["testcase"], message["tag"],
            json.dumps(args, sort_keys=True))


def difference(runs, one, other):
    """Messages of server `one` that server `other` did not get, per zone."""
    return {zone: sorted((collections.Counter(map(comparable, runs[one][zone]))
                          - collections.Counter(map(comparable, runs[other][zone]))).elements())
            for zone in ZONES_UNDER_TEST}


def at_least(level):
    return lambda key: LEVELS.index(key[0]) >= LEVELS.index(level)


def versions():
    zonemaster_cli = subprocess.run(["zonemaster-cli", "--version"], capture_output=True, text=True).stdout.split()
    knotd = subprocess.run(["knotd", "--version"], capture_output=True, text=True).stdout.split()
    stsd = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--version"], capture_output=True, text=True).stdout.split()
    return (f"zonemaster-cli {zonemaster_cli[2]} (engine {zonemaster_cli[5]}), knotd {knotd[-1]}, "
            f"{' '.join(stsd[:2])}")


def report(runs, level, elapsed):
    """Both runs side by side and their difference, as Markdown."""
    out = [f"{versions()}. Messages at {level} and up, per zone (✓: the server got it); "
           f"Zonemaster ran {elapsed:.0f} s in all.\n"]
    only = {server: difference(runs, server, other) for server, other in (("stsd", "knotd"), ("knotd", "stsd"))}
    for zone in ZONES_UNDER_TEST:
        out.append(f"### {zone}\n\n| level | test case | tag | message | stsd | knotd |\n|---|---|---|---|---|---|")
        rows = {}
        for server in ("stsd", "knotd"):
            for m in runs[server][zone]:
                row = rows.setdefault(comparable(m), {"message": m, "stsd": 0, "knotd": 0})
                row[server] += 1
        for key in sorted(rows, key=lambda k: (-LEVELS.index(k[0]), k[2], k[3], k[4])):
            m, row = rows[key]["message"], rows[key]
            text = m.get("message", "").replace("|", "\\|").replace("\n", " ")
            marks = ["✓" * min(row[s], 1) + (f" ×{row[s]}" if row[s] > 1 else "") for s in ("stsd", "knotd")]
            out.append(f"| {m['level']} | {m['testcase']} | {m['tag']} | {text} | {marks[0]} | {marks[1]} |")
        listed = {server: ", ".join(f"{k[3]} {k[4]}" for k in only[server][zone]) or "none" for server in only}
        out.append(f"\nOnly stsd: {listed['stsd']}. Only knotd: {listed['knotd']}.\n")
    return "\n".join(out)


# --- the test -------------------------------------------------------------------------

def run_zonemaster(hints_path, level):
    return {zone: zonemaster(zone, hints_path, level) for zone in ZONES_UNDER_TEST}


def both_runs(level):
    """Zonemaster's messages for each zone under test, {"stsd": {zone: [...]}, "knotd": ...}."""
    runs = {}
    lab = infrastructure()
    with tempfile.TemporaryDirectory(prefix="stsd-zonemaster-") as work:
        hints_path = os.path.join(work, "hints.zone")
        with open(hints_path, "w") as f:
            f.write(HINTS)
        try:
            for server in lab:
                server.start()
            with stsd_under_test() as stsd:
                confirm_policy(stsd)
                synthesized = {apex: served_zone(stsd, names) for apex, names in SYNTHESIZED_ZONES.items()}
                runs["stsd"] = run_zonemaster(hints_path, level)
            with LabKnot("tested", TESTED_SERVERS, {FILE_ZONE: PROVIDER_ZONE, **synthesized}):
                runs["knotd"] = run_zonemaster(hints_path, level)
        finally:
            for server in lab:
                server.stop()
    return runs


def test_zonemaster_stsd_as_knot(options):
    started = time.time()
    runs = both_runs(options.level)
    text = report(runs, options.level, time.time() - started)
    print(text)
    if options.report:
        with open(options.report, "w") as f:
            f.write(text)
    stsd_only = {zone: list(filter(at_least(FAILING_LEVEL), keys))
                 for zone, keys in difference(runs, "stsd", "knotd").items()}
    check(not any(stsd_only.values()), f"messages stsd gets and knotd does not: {stsd_only}")
    for zone in ZONES_UNDER_TEST:
        knot_tags = {key[3] for key in filter(at_least(FAILING_LEVEL), map(comparable, runs["knotd"][zone]))}
        check(knot_tags == KNOT_BASELINE[zone],
              f"the lab itself changed: knotd's messages for {zone} are {sorted(knot_tags)}, "
              f"expected {sorted(KNOT_BASELINE[zone])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", default=FAILING_LEVEL, choices=LEVELS,
                        help="the lowest level reported and compared (the test fails on NOTICE and up)")
    parser.add_argument("--report", metavar="FILE", help="also write the report (Markdown) to FILE")
    options = parser.parse_args()
    if options.report:
        options.report = os.path.abspath(options.report)
    if not shutil.which("zonemaster-cli"):
        sys.exit("zonemaster-cli is not installed: scripts/deps.sh installs it")
    enter_network_namespace()
    configure_addresses()

    def test_zonemaster_finds_nothing_knot_does_not_get():
        test_zonemaster_stsd_as_knot(options)

    run_tests(None, [test_zonemaster_finds_nothing_knot_does_not_get])


if __name__ == "__main__":
    main()
