"""stsd as a hidden primary for real secondaries (issue 13): knotd and named, started from
the deployment guide's templates (docs/secondaries/*.conf, tests/e2e/secondaries.py),
consume stsd's catalog zone (RFC 9432) with TSIG and take NOTIFYs from it. stsd serves
50 NS-delegated domains (three zones each), its service zone and a `file` zone.

Checked, in one run against the real binaries:
- every member zone of the catalog appears on both secondaries, answering as stsd does;
- a stage plus confirm reaches both within seconds, by IXFR (the secondaries' logs);
- a rotation of every domain (the test clock moves a day) reaches both, by IXFR;
- a removed domain's zones leave both;
- a wrong TSIG key, no key, or an address not on the allow list is refused and nothing
  is transferred; a signed SOA query (what a secondary asks before each transfer) gets
  a signed answer;
- after stsd restarts, no serial goes back, a change still reaches both by IXFR, and no
  zone that did not change while stsd was down is transferred in full again.
(e2e_secondaries_reference runs the same secondaries against a Knot primary.)
"""
import os
import subprocess
import sys
import time

from harness import SOURCE_DIR, Stsd, check, free_port, query
from secondaries import BindSecondary, KnotSecondary, TsigKey, axfr, missing_tool, serial_newer

sys.path.insert(0, os.path.join(SOURCE_DIR, "plugins", "confirm", "tests"))
from confirm_env import TestClock, log, run_script, served_id, stsctl, wait_until  # noqa: E402

CATALOG = "catalog.stsd.invalid."
SERVICE_ZONE = "sts.provider.test."
FILE_ZONE = "example.org."
DOMAINS = [f"d{i:02d}.xfr.test" for i in range(50)]
DAY = 86400
# From a change in stsd to both secondaries serving it: NOTIFY, SOA query, IXFR. Seconds
# in practice; the bound leaves room for a loaded machine.
PROPAGATION = 20
# Provisioning ~150 zones from the catalog (BIND adds zones in batches).
PROVISIONING = 60

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      transfer:
        keys:
          xfr-key: {algorithm: hmac-sha256, secret: "SECRET"}
        allow:
          - {prefix: 127.0.0.1/32, key: xfr-key}
        notify:
          targets:
            - {address: "127.0.0.1:KNOT_PORT", key: xfr-key}
            - {address: "127.0.0.1:BIND_PORT", key: xfr-key}
          retry_interval: 1s
        catalog: CATALOG
        poll: 1s
      mtasts:
        nameservers: [ns1.provider.test., ns2.provider.test.]
        hostmaster: hostmaster.provider.test.
        service_zone: SERVICE_ZONE
        ttl: 60
        policy_host: { a: [192.0.2.10] }
      file:
        - zone: FILE_ZONE
          path: {source}/zones/example.org.zone
"""


def stsd_config(key, knot, bind):
    return (CONFIG.replace("SECRET", key.secret).replace("KNOT_PORT", str(knot.port))
            .replace("BIND_PORT", str(bind.port)).replace("SERVICE_ZONE", SERVICE_ZONE)
            .replace("FILE_ZONE", FILE_ZONE).replace("CATALOG", CATALOG))


# --- what a server answers --------------------------------------------------------------

def names_to_compare(zone):
    """(name, type) pairs whose answers must be equal on stsd and its secondaries."""
    pairs = [(zone, t) for t in ("SOA", "NS", "TXT", "A")]
    if zone == SERVICE_ZONE:
        pairs += [(f"{prefix}.{d}.{SERVICE_ZONE}", t) for d in DOMAINS[:3]
                  for prefix, t in (("_mta-sts", "TXT"), ("_smtp._tls", "TXT"), ("mta-sts", "A"))]
    if zone == FILE_ZONE:
        pairs += [(f"www.{FILE_ZONE}", "A"), (FILE_ZONE, "MX")]
    return pairs


def view(server, zone):
    """What `server` (a Stsd or (host, port)) answers for `zone`: rcode and sorted answer section per name/type."""
    out = []
    for name, rtype in names_to_compare(zone):
        try:
            a = query(server, name, rtype, flags=0, timeout=1.0)
        except OSError as e:
            return f"no answer: {e}"
        out.append((name, rtype, a.rcode, sorted(a.answer, key=repr)))
    return out


def wait_in_sync(stsd, secondaries, zones, timeout, what):
    """Waits until every secondary answers for every zone exactly as stsd does."""
    deadline = time.time() + timeout
    pending = {(s, z) for s in secondaries for z in zones}
    while True:
        stsd_views = {}
        for s, z in sorted(pending, key=lambda p: (p[0].kind, p[1])):
            if z not in stsd_views:
                stsd_views[z] = view(stsd, z)
            if view(s.address, z) == stsd_views[z]:
                pending.discard((s, z))
        if not pending:
            return
        if time.time() >= deadline:
            s, z = sorted(pending, key=lambda p: (p[0].kind, p[1]))[0]
            raise AssertionError(f"{what}: {len(pending)} (secondary, zone) pairs differ from stsd after "
                                 f"{timeout}s, e.g. {s.kind} {z}:\n  stsd: {view(stsd, z)}\n"
                                 f"  {s.kind}: {view(s.address, z)}")
        time.sleep(0.3)


def catalog_members(stsd, key):
    """The member zones of stsd's catalog, from an AXFR signed with the transfer key."""
    records, _ = axfr((stsd.host, stsd.port), CATALOG, key)
    return sorted({rdata.lower() for _, _, _, rtype, rdata in records if rtype == "PTR"})


def domain_zones(domain):
    return [f"_mta-sts.{domain}.", f"_smtp._tls.{domain}.", f"mta-sts.{domain}."]


def stsd_serials(stsd, zones):
    return {z: query(stsd, z, "SOA", flags=0).answer[0][4][2] for z in zones}


def txt(server, name):
    return [r[4] for r in query(server, name, "TXT", flags=0).answer if r[3] == "TXT"]


def check_incremental(secondaries, zones, marks, what):
    """Every transfer of `zones` since `marks` was an IXFR, and each zone had one."""
    for s in secondaries:
        for z in zones:
            done = s.transfers(z, since=marks[s])
            check(done and all(kind == "IXFR" for _, kind in done),
                  f"{what}: {s.kind} transferred {z} as {[kind for _, kind in done]}, expected IXFR only\n"
                  f"{s.diagnostics()}")


# --- the steps --------------------------------------------------------------------------

def add_fifty_domains(stsd, key, secondaries, parts):
    log("50 domains imported and confirmed: every member zone reaches both secondaries")
    csv = os.path.join(parts.work, "domains.csv")
    with open(csv, "w") as f:
        f.write("domain,mode,mx,max_age,tlsrpt_rua\n")
        for d in DOMAINS:
            f.write(f"{d},enforce,mx1.{d},86400,mailto:tls@{d}\n")
    stsctl(stsd, "import", csv, "--confirm-now", "--reason", "e2e: served by the test")
    expected = {z for d in DOMAINS for z in domain_zones(d)} | {SERVICE_ZONE, FILE_ZONE}
    # The catalog follows the store at the next `poll` (1 s).
    wait_until(lambda: expected <= set(catalog_members(stsd, key)), 10, "every zone in stsd's catalog")
    members = catalog_members(stsd, key)
    started = time.time()
    wait_in_sync(stsd, secondaries, members, PROVISIONING, "provisioning")
    log(f"  {len(members)} zones on both in {time.time() - started:.1f}s")
    return members


def stage_and_confirm(stsd, secondaries, domain, version, what):
    """A new policy version for `domain`: its new id on both secondaries, by IXFR."""
    marks = {s: s.log_mark() for s in secondaries}
    stsctl(stsd, "policy", "stage", domain, "--mode", "enforce", "--mx", f"mx{version}.{domain}")
    stsctl(stsd, "policy", "confirm", domain, "--version", str(version), "--reason", "e2e")
    new_id = served_id(stsd, domain)
    check(f"v{version}d" in new_id, new_id)
    started = time.time()
    name = f"_mta-sts.{domain}."
    for s in secondaries:
        wait_until(lambda: any(new_id in t for t in map(" ".join, txt(s.address, name))), PROPAGATION,
                   f"{what}: the new id on {s.kind}")
    log(f"  {what}: id {new_id} on both in {time.time() - started:.1f}s")
    check_incremental(secondaries, [name], marks, what)


def rotate_everything(stsd, clock, secondaries):
    log("a day passes (test clock): every domain rotates, both secondaries follow by IXFR")
    zones = [f"_mta-sts.{d}." for d in DOMAINS]
    before = {z: txt(stsd, z) for z in zones}
    marks = {s: s.log_mark() for s in secondaries}
    clock.set(clock.now() + DAY)
    wait_until(lambda: all(txt(stsd, z) != before[z] for z in zones), 10, "stsd rotated every id")
    started = time.time()
    wait_in_sync(stsd, secondaries, zones + [SERVICE_ZONE], PROPAGATION * 2, "rotation")
    log(f"  {len(zones)} rotated zones on both in {time.time() - started:.1f}s")
    check_incremental(secondaries, zones, marks, "rotation")


def remove_domain(stsd, key, secondaries, domain):
    log(f"{domain} removed: its zones leave the catalog and both secondaries")
    stsctl(stsd, "domain", "remove", domain, "--force")
    zones = domain_zones(domain)
    wait_until(lambda: not set(zones) & set(catalog_members(stsd, key)), 10, "the zones left stsd's catalog")
    for s in secondaries:
        s.wait_zones(zones, present=False, timeout=PROPAGATION)


def refused_transfers(stsd, key):
    log("a wrong key, no key, or an address not on the allow list: refused, nothing transferred; "
        "signed queries get signed answers")
    zone = f"_mta-sts.{DOMAINS[1]}."
    wrong = TsigKey.generate(key.name)
    cases = [("wrong key", dict(key=wrong), ("NOTAUTH", "BADSIG")),
             ("no key", dict(), ("REFUSED",)),
             ("127.0.0.2, not on the allow list", dict(key=key, source="127.0.0.2"), ("REFUSED",))]
    for what, args, words in cases:
        for rtype in ("AXFR", "IXFR"):
            records, text = axfr((stsd.host, stsd.port), zone, rtype=rtype, **args)
            check(not records, f"{what}: {rtype} transferred {len(records)} records:\n{text}")
            check(any(w in text for w in words), f"{what}: {rtype} answer names none of {words}:\n{text}")
    records, text = axfr((stsd.host, stsd.port), zone, key)
    check(records, f"the right key from 127.0.0.1 must transfer:\n{text}")
    # The SOA query a secondary signs before each transfer gets a signed answer (kdig
    # verifies it and warns when it is missing), and a wrong key gets NOTAUTH.
    for name in (zone, CATALOG):
        signed = subprocess.run(["kdig", f"@{stsd.host}", "-p", str(stsd.port), "-y", key.kdig_arg(), "SOA", name],
                                capture_output=True, text=True, timeout=30)
        check("NOERROR" in signed.stdout and "TSIG PSEUDOSECTION" in signed.stdout
              and "WARNING" not in signed.stdout + signed.stderr, f"signed SOA query for {name}:\n{signed.stdout}")
    bad = subprocess.run(["kdig", f"@{stsd.host}", "-p", str(stsd.port), "-y", wrong.kdig_arg(), "SOA", zone],
                         capture_output=True, text=True, timeout=30)
    check("NOTAUTH" in bad.stdout + bad.stderr or "BADSIG" in bad.stdout + bad.stderr,
          f"SOA query with a wrong key:\n{bad.stdout}{bad.stderr}")


def restart(stsd, key, secondaries, members):
    log("stsd restarts: serials never go back; only zones changed meanwhile may be sent whole")
    zones = members + [CATALOG]
    before = stsd_serials(stsd, zones)
    marks = {s: s.log_mark() for s in secondaries}
    stsd.stop()
    stsd.start()
    # The journal's first version of each zone is taken as the load commits, before the
    # listeners open (docs/secondaries.md): transfers are served at once.
    check(axfr((stsd.host, stsd.port), CATALOG, key)[0], "transfers served as soon as stsd answers after the restart")
    after = stsd_serials(stsd, zones)
    back = [z for z in zones if serial_newer(before[z], after[z])]
    check(not back, f"serials went back after the restart: {[(z, before[z], after[z]) for z in back[:5]]}")
    changed = {z for z in zones if after[z] != before[z]}
    # A change after the restart: its zone still goes by IXFR (the secondaries hold the
    # serial stsd came back with).
    stage_and_confirm(stsd, secondaries, DOMAINS[2], 2, "a change after the restart")
    time.sleep(3)  # let the NOTIFYs sent at start-up play out
    # The transfer README: a restart with the same members keeps the catalog's serial.
    settled = stsd_serials(stsd, [CATALOG])[CATALOG]
    check(settled == before[CATALOG], f"the catalog's serial moved across the restart: {before[CATALOG]} -> "
                                      f"{after[CATALOG]} -> {settled}")
    for s in secondaries:
        full = [z for z, kind in s.transfers(since=marks[s]) if kind == "AXFR" and z not in changed]
        check(not full, f"{s.kind} fell back to AXFR after the restart for unchanged zones {full[:5]}\n"
                        f"{s.diagnostics()}")


def main(parts):
    clock = TestClock(parts.work)
    key = TsigKey.generate("xfr-key")
    stsd = Stsd("", env=clock.env)  # its port first: the secondaries' primary
    knot = KnotSecondary((stsd.host, stsd.port), key, CATALOG)
    bind = BindSecondary((stsd.host, stsd.port), key, CATALOG)
    stsd.config_text = stsd_config(key, knot, bind)  # their ports: stsd's NOTIFY targets
    parts.add(stsd.start())
    secondaries = (parts.add(knot.start()), parts.add(bind.start()))

    members = add_fifty_domains(stsd, key, secondaries, parts)
    stage_and_confirm(stsd, secondaries, DOMAINS[0], 2, "stage + confirm")
    rotate_everything(stsd, clock, secondaries)
    remove_domain(stsd, key, secondaries, DOMAINS[-1])
    refused_transfers(stsd, key)
    restart(stsd, key, secondaries, [z for z in members if DOMAINS[-1] not in z])


if __name__ == "__main__":
    missing = missing_tool()
    if missing:
        sys.exit(f"{missing} is not installed: scripts/deps.sh installs it")
    run_script(main)
