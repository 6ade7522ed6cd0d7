"""The simulated day's returns: consumers send parcels back through the lockers' scanners with
labels central issued, the removal round collects them, the partner confirms them back; the
summary counts them and the verdict stays clean."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hw_sim.network import returns_day
from hw_sim.network.fleet import SimOptions, simulate

pytestmark = pytest.mark.broker

OPTIONS = SimOptions(
    lockers=3, counters=2, couriers=4, parcels=100, seed=11, wall_s=30.0, pty_sites=0, faults=False
)


def test_returns_dropped_off_at_lockers_are_collected_and_end_back_with_their_partner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Half the parcels collected at a locker come back: a small day has returns to count.
    monkeypatch.setattr(returns_day, "RETURN_SHARE", 0.5)
    summary = asyncio.run(simulate(OPTIONS, [].append, tmp_path))
    tally = summary.pop("_tally")
    assert summary["invariants_broken"] == [], summary
    assert summary["returns_issued"] == len(tally.returns) > 0
    # What the sites reported is what the consumers saw go in, each once.
    assert summary["returns_dropped_off"] == len(tally.returns_dropped) > 0
    states = summary["parcel_states_at_central"]
    # Every return the removal round took out was confirmed back with the partner; none is
    # left collected and unconfirmed, and none of the dropped-off ones is lost track of.
    assert states.get("return_collected", 0) == 0, states
    returned_back = summary["returns_dropped_off"] - states.get("return_dropped_off", 0)
    assert returned_back > 0 and states.get("returned", 0) >= returned_back, states
    assert summary["verdict"] == "clean"
