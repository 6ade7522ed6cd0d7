"""The simulated day's home deliveries: the couriers' phones on central's handheld API deliver
or fail every home parcel, central redirects the failed ones, and nothing is left stuck; a day
whose home rounds never ran fails its verdict on the parcels they left assigned."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hw_sim.network import fleet as fleet_module
from hw_sim.network.fleet import SimOptions, simulate
from hw_sim.network.verdict import stuck_parcels

pytestmark = pytest.mark.broker

OPTIONS = SimOptions(
    lockers=3, counters=3, couriers=4, parcels=100, seed=7, wall_s=30.0, pty_sites=0, faults=False
)


def test_a_day_delivers_its_home_parcels_and_leaves_none_stuck(tmp_path: Path) -> None:
    summary = asyncio.run(simulate(OPTIONS, [].append, tmp_path))
    summary.pop("_tally")
    assert summary["invariants_broken"] == [], summary
    assert summary["parcels_stuck"] == {}
    assert summary["home_delivered"] > 0
    states = summary["parcel_states_at_central"]
    ended = summary["home_delivered"] + summary["home_failed_returned"]
    assert states.get("delivered", 0) == summary["home_delivered"]
    assert states.get("returned", 0) >= summary["home_failed_returned"]
    assert ended + summary["home_failed_redirected"] > 0
    assert summary["duplicate_effects"] == 0
    assert summary["verdict"] == "clean"


def test_a_day_whose_home_rounds_never_ran_fails_on_the_stuck_parcels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_module, "HOME_ROUND_HOURS", ())
    summary = asyncio.run(simulate(OPTIONS, [].append, tmp_path))
    summary.pop("_tally")
    stuck = summary["parcels_stuck"]
    assert stuck.get("assigned", 0) > 0, summary
    assert summary["home_delivered"] == 0
    assigned = [p for p in summary["invariants_broken"] if "stuck assigned" in p]
    # The failed verdict names its cases: a home parcel, its courier, central's last step.
    assert len(assigned) == 1 and "(home, no site, courier K" in assigned[0], assigned
    assert "last assign by central" in assigned[0]
    assert summary["verdict"] == "failed"


def test_each_state_left_waiting_for_the_network_is_named_with_its_count() -> None:
    assert stuck_parcels({"assigned": 3, "redirected": 1, "out_for_delivery": 0}) == [
        "3 parcel(s) stuck assigned at the day's end (every round is done)",
        "1 parcel(s) stuck redirected at the day's end (every round is done)",
    ]
    assert stuck_parcels({}) == []
    named = {"redirected": ["P1 (locker, L0001, courier K0001, last redirect by central)"]}
    assert stuck_parcels({"redirected": 1, "assigned": 2}, named) == [
        "2 parcel(s) stuck assigned at the day's end (every round is done)",
        "1 parcel(s) stuck redirected at the day's end (every round is done), e.g. "
        "P1 (locker, L0001, courier K0001, last redirect by central)",
    ]
