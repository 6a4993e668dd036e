"""The status page in a real browser (headless Chromium from Debian, no JavaScript).

Phase one: a domain whose edge drifts (as in plugins/confirm/tests/e2e_drift_hold.py):
the confirmer sets a drift hold, and the domain's page shows it as such, with each
vantage's last probe naming the edge that serves another policy.
Phase two: the same store without the confirmer (so that 1,000 domains imported for
paging do not each start probing edges that do not exist), 1,000 domains imported with
stsctl: the list loads, a search typed into the form finds a domain whose page shows the
id DNS serves, the held domain still shows its hold in the list, and "next page" pages.
Screenshots go under the build folder (test-artifacts/status-page*.png).
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "confirm", "tests"))

from harness import STSD_BIN, Stsd, check, free_port  # noqa: E402
from confirm_env import (Nginx, TestCA, log, policy_text, run_script, served_id, status_json,  # noqa: E402
                         stsctl, confirmed_version, wait_until)
from status_browser import Browser  # noqa: E402

DOMAIN = "drift.test"
DOMAINS = 1000
ARTIFACTS = os.path.abspath(os.path.join(STSD_BIN, "..", "test-artifacts"))

MTASTS = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 1
status:
  listen: 127.0.0.1:STATUS_PORT
"""

CONFIRM = """
confirm:
  interval: 1s
  probes: 2
  soak: 2s
  timeout: 3s
  ca_file: CA_FILE
  drift_interval: 2s
  max_backoff: 2s
"""

V1 = policy_text("testing", ["mx1.drift.test"], 86400)
WRONG = policy_text("testing", ["mx1.drift.test", "mx9.attacker.test"], 86400)


def name_of(i):
    return f"site{i:04d}.example"


def drift_phase(parts, browser, stsd, base):
    ca = TestCA(parts.work)
    cert, key = ca.issue([f"mta-sts.{DOMAIN}"])
    edge1 = Nginx(parts.work, "edge1", "127.0.0.11")
    edge2 = Nginx(parts.work, "edge2", "127.0.0.12")
    for edge in (edge1, edge2):
        edge.site(DOMAIN, cert, key, V1)
        parts.add(edge.start())
    stsd.config_text = MTASTS + CONFIRM.replace("CA_FILE", ca.cert)
    parts.add(stsd.start())
    stsctl(stsd, "domain", "add", DOMAIN, "--vantage", edge1.vantage, "--vantage", edge2.vantage)
    stsctl(stsd, "policy", "stage", DOMAIN, "--mode", "testing", "--mx", "mx1.drift.test", "--max-age", "86400")
    wait_until(lambda: confirmed_version(stsd, DOMAIN) == 1, 30, "version 1 to be confirmed")

    edge2.write_policy(DOMAIN, WRONG)
    wait_until(lambda: status_json(stsd, DOMAIN).get("hold"), 20, "a drift hold after edge 2 drifted")
    browser.get(f"{base}/domains/{DOMAIN}")
    hold = browser.find("#drift-hold").text
    log(f"the page's hold: {hold}")
    check(hold.startswith("Drift hold since"), hold)
    check(f"edge {edge2.vantage} serves a policy that matches no version" in hold and "mx9.attacker.test" in hold, hold)
    probes = browser.find("#section-confirm").text
    check(edge1.vantage in probes and edge2.vantage in probes, f"each vantage's last probe: {probes}")
    check("id rotation held" in probes, probes)
    check(browser.find("h1").text == DOMAIN, browser.find("h1").text)
    path = browser.screenshot(os.path.join(ARTIFACTS, "status-page-drift.png"))
    log(f"screenshot {path}")
    stsd.stop()


def import_domains(stsd):
    path = os.path.join(stsd.dir, "domains.csv")
    with open(path, "w") as f:
        f.write("domain,mode,mx,max_age\n")
        for i in range(DOMAINS):
            f.write(f"{name_of(i)},enforce,mx1.{name_of(i)},604800\n")
    stsctl(stsd, "import", path, "--confirm-now", "--reason", "status page test")


def list_phase(parts, browser, stsd, base):
    stsd.config_text = MTASTS
    stsd.start()
    import_domains(stsd)

    started = time.monotonic()
    browser.get(base + "/")
    log(f"the list loaded in {time.monotonic() - started:.2f} s")
    summary = browser.find("#summary").text
    check(summary.startswith(f"{DOMAINS + 1} domains"), summary)
    rows = browser.find_all("#domains tbody tr")
    check(len(rows) == 50, f"a page holds 50 rows, got {len(rows)}")
    check(rows[0].find_element("css selector", "td a").text == DOMAIN, rows[0].text)
    check("drift hold" in rows[0].text, f"the held domain's row: {rows[0].text}")
    check(rows[1].find_element("css selector", "td a").text == name_of(0), rows[1].text)
    check(not browser.find_all("script"), "the page carries no script")
    browser.screenshot(os.path.join(ARTIFACTS, "status-page.png"))

    # Next page: the 51st name first.
    browser.find("#next").click()
    first = browser.find("#domains tbody tr td a").text
    check(first == name_of(49), f"page two starts after the 50th name: {first}")

    # A search typed into the form (a GET form: no script needed).
    target = name_of(417)
    box = browser.find("#q")
    box.clear()
    box.send_keys("SITE0417")
    browser.find("form button").click()
    # The click returns before the browser has navigated when the machine is busy.
    wait_until(lambda: "q=SITE0417" in browser.driver.current_url, 10, "the search's page to load")
    found = [a.text for a in browser.find_all("#domains tbody tr td a")]
    check(found == [target], f"the search finds exactly {target}: {found}")
    check(browser.find("#q").get_attribute("value") == "site0417", "the box shows the search as applied")
    browser.screenshot(os.path.join(ARTIFACTS, "status-page-search.png"))

    browser.find("#domains tbody tr td a").click()
    check(browser.find("h1").text == target, browser.find("h1").text)
    dns_id = served_id(stsd, target)
    rotation = browser.find("#rotation").text
    check(dns_id and f"id={dns_id};" in rotation, f"the page shows the id DNS serves ({dns_id}): {rotation}")
    versions = browser.find("#versions").text
    check("confirmed 1 enforce mx1." + target in versions, versions)

    browser.get(base + "/?q=no-such-domain")
    check("No domain contains" in browser.find("#no-match").text, browser.find("#no-match").text)
    browser.get(base + "/domains/missing.example")
    check("not in the store" in browser.find("#error").text, browser.find("#error").text)


def main(parts):
    status_port = free_port()
    base = f"http://127.0.0.1:{status_port}"
    global MTASTS
    MTASTS = MTASTS.replace("STATUS_PORT", str(status_port))
    browser = parts.add(Browser())
    stsd = Stsd(MTASTS)
    drift_phase(parts, browser, stsd, base)
    list_phase(parts, browser, stsd, base)
    for name in ("status-page.png", "status-page-drift.png", "status-page-search.png"):
        path = os.path.join(ARTIFACTS, name)
        with open(path, "rb") as f:
            head = f.read(8)
        check(head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 10000, f"{path}: not a screenshot")
    log(f"screenshots in {ARTIFACTS}")


if __name__ == "__main__":
    run_script(main)
