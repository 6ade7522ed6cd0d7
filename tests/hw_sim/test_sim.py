"""The main job, small: a few sites through a short day with the broker restart and a site
outage; the verdict must be clean — no event lost, no effect duplicated, no invariant broken."""

from __future__ import annotations

import asyncio

import pytest

from hw_sim.fleet import SimOptions, simulate

pytestmark = pytest.mark.broker


def test_a_small_day_with_a_broker_restart_and_a_site_outage_loses_nothing(tmp_path):
    options = SimOptions(
        lockers=3, counters=4, couriers=6, parcels=120, seed=5, wall_s=30.0, pty_sites=1
    )
    lines: list[str] = []
    summary = asyncio.run(simulate(options, lines.append, tmp_path))
    tally = summary.pop("_tally")
    assert any("broker restart" in f for f in tally.faults)
    assert any("offline for an hour" in f for f in tally.faults)
    assert summary["events_lost"] == 0, summary
    assert summary["duplicate_effects"] == 0, summary
    assert summary["invariants_broken"] == [], (summary, tally.faults)
    assert summary["events_received"] == summary["events_sent"] > 0
    # Parcels really moved: deposited through doors and shelves, most collected.
    assert summary["deposited"] > 0 and summary["picked_up"] > summary["deposited"] // 2
    assert summary["verdict"] == "clean"
