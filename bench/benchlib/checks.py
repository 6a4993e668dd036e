"""Correctness beside the figures: stsd's answers checked while dnsperf loads it, and every
server asked the same questions (they are meant to send the same bytes)."""
from __future__ import annotations

import random
import threading
import time

import dnsdata
from benchlib.processes import HOST


class Sampler:
    """Checks stsd's answers while dnsperf loads it: hits are NOERROR + AA with exactly one
    `v=STSv1; id=<[A-Za-z0-9]{1,32}>;` TXT; NXDOMAIN names are NXDOMAIN + AA."""

    def __init__(self, port: int, count: int, rng: random.Random):
        self.port = port
        self.domains = [rng.randrange(count) for _ in range(40)]
        self.checked = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> None:
        for k, i in enumerate(self.domains):
            if self._stop.is_set():
                return
            nx = k % 5 == 4
            name = f"nxsample{k}.{dnsdata.owner(i)}" if nx else dnsdata.owner(i)
            r = dnsdata.query(HOST, self.port, name, timeout=2.0)
            self.checked += 1
            if r is None:
                self.failures.append(f"{name}: no answer within 2 s")
            elif not r.authoritative:
                self.failures.append(f"{name}: AA not set")
            elif nx and r.rcode != 3:
                self.failures.append(f"{name}: rcode {r.rcode}, expected NXDOMAIN")
            elif not nx and dnsdata.served_id(r) is None:
                self.failures.append(f"{name}: rcode {r.rcode}, answer {r.txt_strings()} is not one valid MTA-STS TXT")
            time.sleep(0.02)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.check_once, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)


def compare_answers(servers: list, count: int, rng: random.Random, samples: int = 50) -> list[str]:
    """Asks every server the same questions; reports any difference in rcode, AA, answer
    or message size (the peers are meant to send the same bytes as stsd)."""
    problems = []
    for k in range(samples):
        i = rng.randrange(count)
        name = f"nxcmp{k}.{dnsdata.owner(i)}" if k % 5 == 4 else dnsdata.owner(i)
        answers = {s.name: dnsdata.query(HOST, s.port, name, timeout=2.0) for s in servers}
        shapes = {n: (r.rcode, r.authoritative, r.txt_strings(), r.size) if r else None for n, r in answers.items()}
        if len(set(map(repr, shapes.values()))) > 1:
            problems.append(f"{name}: " + "; ".join(f"{n}={v}" for n, v in shapes.items()))
    return problems
