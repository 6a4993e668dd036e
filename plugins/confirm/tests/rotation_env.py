"""The set-up shared by the verified-rotation tests (README "Verified id changes"): two
nginx edges with the test CA, stsd with the confirmer, metrics and the test clock, daily
rotation and a 4-minute verify_window (the verification round starts 2 minutes before
the domain's rotation). The clock starts 30 minutes before one of the domain's
boundaries, computed from the documented formula, so that every jump goes forward.
"""
import time

from harness import Stsd, check, free_port
from confirm_env import (Nginx, TestCA, TestClock, confirm_section, confirmed_version, log, metrics,
                         next_boundary, served_id, status_json, stsctl, wait_until)

ROTATION = 86400
VERIFY_WINDOW = 240

CONFIG = """
storage: {dir}/stsd.db
admin: { socket: {dir}/stsd.sock }
servers:
  - listen: ["127.0.0.1:{port}"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 1
confirm:
  interval: 1s
  probes: 2
  soak: 1s
  timeout: 2s
  ca_file: CA_FILE
  resolver: 127.0.0.1:{port}
  drift_interval: 1h
  max_backoff: 2s
  verify_window: VERIFY_WINDOWs
metrics:
  listen: 127.0.0.1:METRICS_PORT
"""


class RotationScenario:
    def __init__(self, parts, domain, policy):
        work = parts.work
        self.domain = domain
        ca = TestCA(work)
        cert, key = ca.issue([f"mta-sts.{domain}"])
        self.edges = []
        for i in (1, 2):
            edge = Nginx(work, f"edge{i}", f"127.0.0.1{i}")
            edge.site(domain, cert, key, policy)
            self.edges.append(parts.add(edge.start()))
        self.clock = TestClock(work)
        self.boundary = next_boundary(domain, ROTATION, time.time() + 31 * 60)
        self.clock.set(self.boundary - 30 * 60)
        self.metrics_port = free_port()
        config = (CONFIG.replace("CA_FILE", ca.cert).replace("VERIFY_WINDOW", str(VERIFY_WINDOW))
                  .replace("METRICS_PORT", str(self.metrics_port)))
        self.stsd = parts.add(Stsd(config, env=self.clock.env).start())
        stsctl(self.stsd, "domain", "add", domain, *sum((["--vantage", e.vantage] for e in self.edges), []))
        log(f"{domain}: next rotation at {self.boundary} (clock now {int(self.clock.now())})")

    def stage_and_confirm(self, version, mode, mx, max_age=86400):
        # --force: the MX check asks stsd's own DNS, which is not authoritative for the domain.
        args = ["policy", "stage", self.domain, "--mode", mode, "--max-age", str(max_age), "--force"]
        for host in mx:
            args += ["--mx", host]
        stsctl(self.stsd, *args)
        wait_until(lambda: confirmed_version(self.stsd, self.domain) == version, 30,
                   f"version {version} to be confirmed")

    def id(self):
        return served_id(self.stsd, self.domain)

    def confirm(self):
        return confirm_section(status_json(self.stsd, self.domain))

    def rotation(self):
        return self.confirm().get("rotation") or {}

    def lines(self):
        return " | ".join(self.confirm().get("lines", []))

    def event_kinds(self):
        return [e.get("kind") for e in status_json(self.stsd, self.domain)["events"]]

    def wait_round_at(self, t, what):
        """Waits for a round that started at or after clock time `t` to be published."""
        def done():
            section = self.confirm()
            return section if (section.get("last_round_at") or 0) >= t else None
        return wait_until(done, 30, what)

    def metrics(self):
        return metrics(self.metrics_port)

    def check_schedule(self):
        """stsd's next rotation and offset are the documented formula's."""
        rotation = self.rotation()
        check(rotation.get("next_at") == self.boundary, f"next rotation {rotation} != {self.boundary}")
        check(rotation.get("offset_seconds") == self.boundary % ROTATION, rotation)
