"""End to end (issue 17, publishing the rua): with `tlsrpt_rua_default`, `_smtp._tls.<d>`
points at the provider's report intake for every domain that has no rua of its own, in
both delegation modes; a domain's own rua wins; a SIGHUP that changes the default changes
every such domain's record and SOA serial at once, and one that is refused changes none."""
import os

from harness import Stsd, check, kdig, reload_and_wait, run_tests

CONFIG = """
storage: {dir}/var/stsd.db
admin: { socket: {dir}/var/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        service_zone: sts.provider.test.
        nameservers: [ns1.provider.test., ns2.provider.test.]
        hostmaster: hostmaster.provider.test.
%s
"""
DEFAULT = '        tlsrpt_rua_default: ["https://tlsrpt.provider.test/v1/reports", "mailto:tlsrpt@provider.test"]'
CHANGED = '        tlsrpt_rua_default: ["mailto:reports@provider.test"]'
BROKEN = '        tlsrpt_rua_default: ["ftp://tlsrpt.provider.test/"]'
OWN = "v=TLSRPTv1; rua=mailto:tls@own.example"
FIRST = "v=TLSRPTv1; rua=https://tlsrpt.provider.test/v1/reports,mailto:tlsrpt@provider.test"
SECOND = "v=TLSRPTv1; rua=mailto:reports@provider.test"
DEFAULTED = ["a.example", "b.example", "c.example"]


def stsctl(server, *args):
    return server.run("stsctl", "--socket", os.path.join(server.dir, "var", "stsd.sock"), *args)


def tlsrpt(server, domain, cname=True):
    """(the TXT strings at _smtp._tls.<domain>, the zone's SOA serial)."""
    name = f"_smtp._tls.{domain}." + ("sts.provider.test." if cname else "")
    answer = kdig(server, name, "TXT")
    check(answer.rcode == "NOERROR" and "aa" in answer.flags, answer)
    soa = kdig(server, "sts.provider.test." if cname else name, "SOA")
    serial = int(soa.rdatas("SOA")[0].split()[2])
    return [t.strip('"') for t in answer.rdatas("TXT")], serial


def test_default_own_and_reload():
    with Stsd(CONFIG % DEFAULT) as server:
        stsctl(server, "domain", "add", "own.example", "--tlsrpt-rua", "mailto:tls@own.example")
        for domain in DEFAULTED:
            stsctl(server, "domain", "add", domain)
        for cname in (True, False):
            check(tlsrpt(server, "own.example", cname)[0] == [OWN], "a domain's own rua wins")
            for domain in DEFAULTED:
                records, _ = tlsrpt(server, domain, cname)
                check(records == [FIRST], f"{domain}: {records}")

        # A refused reload changes nothing: every domain keeps the first default.
        _, serial_before = tlsrpt(server, "a.example")
        server.write_config(CONFIG % BROKEN)
        reload_and_wait(server, "reload rejected")
        check("must be a mailto: or https: URI" in server.read_log(), server.read_log()[-2000:])
        for domain in DEFAULTED:
            check(tlsrpt(server, domain)[0] == [FIRST], f"{domain} after a refused reload")

        # A reload that changes the default changes every defaulted domain, and the serials move.
        server.write_config(CONFIG % CHANGED)
        reload_and_wait(server, "config reloaded")
        for cname in (True, False):
            check(tlsrpt(server, "own.example", cname)[0] == [OWN], "own rua kept across the reload")
            for domain in DEFAULTED:
                records, serial = tlsrpt(server, domain, cname)
                check(records == [SECOND], f"{domain}: {records}")
                check(serial > serial_before, f"{domain}: serial {serial} did not move past {serial_before}")

        # A domain that drops its own rua falls back to the default.
        stsctl(server, "domain", "set", "own.example", "--no-tlsrpt-rua")
        check(tlsrpt(server, "own.example")[0] == [SECOND], "own.example without rua of its own")

        # Without the option, no record for the domains without rua.
        server.write_config(CONFIG % "")
        reload_and_wait(server, "config reloaded")
        for domain in DEFAULTED:
            check(tlsrpt(server, domain)[0] == [], f"{domain}: NODATA without the option")


if __name__ == "__main__":
    run_tests(None, [test_default_own_and_reload])
