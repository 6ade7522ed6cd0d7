"""Benchmark: a reconnect storm with the project's backoff (protocols/backoff.py), for a few caps.

2,100 sites lose the broker at t=0 (each notices within its 60 s keepalive) and it returns at
t=600 s; each site retries with `backoff_s`. Prints, per cap, how long after the return the
sites are back (p50/p99/max) and the peak connects in any one second.

Run: .venv/bin/python tests/bench/reconnect_storm.py
"""

from __future__ import annotations

import random
from collections import Counter

from protocols.backoff import RECONNECT, backoff_s

SITES = 2100
BROKER_BACK_AT_S = 600.0
KEEPALIVE_S = 60.0


def storm(cap_s: float, sites: int = SITES, seed: int = 1) -> str:
    """One storm's summary line for a reconnect cap of `cap_s` seconds."""
    rng = random.Random(seed)  # a seeded model, not a secret
    delays: list[float] = []
    per_second: Counter[int] = Counter()
    for _ in range(sites):
        t, failures = rng.uniform(0, KEEPALIVE_S), 0
        while t < BROKER_BACK_AT_S:
            failures += 1
            t += backoff_s(failures, RECONNECT.min_s, cap_s, rng)
        delays.append(t - BROKER_BACK_AT_S)
        per_second[int(t)] += 1
    delays.sort()
    n = len(delays)
    return (
        f"cap {cap_s:5.0f} s: back p50 {delays[n // 2]:5.1f} s, p99 {delays[int(n * 0.99)]:5.1f}"
        f" s, max {delays[-1]:5.1f} s; peak {max(per_second.values())} connects/s"
    )


if __name__ == "__main__":
    for cap in (10.0, 30.0, 60.0, 120.0):
        print(storm(cap))
