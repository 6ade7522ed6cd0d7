"""A day of site events replayed by several central processes at once on every store: each
deposit and pickup is counted once, and the day's outcome is the first pass's.

A broker redelivers whatever it was not sure was acknowledged (a central process killed, a
broker restarted); with a shared subscription the copies go to different processes, which
commit them at the same time."""

from __future__ import annotations

from typing import Any

import pytest

from central.store.base import CentralStore
from protocols.messages import Event
from tests.central.central_rig import label
from tests.central.store_contract import racers
from tests.central.store_contract.stores import open_location
from tests.central.store_contract.test_concurrency import run_processes, run_threads
from tests.central.test_ingest import a_day, state


def outcome(location: str) -> dict[str, Any]:
    """What a user would notice (parcels, steps, slots, stream tallies, alarms, tasks)."""
    store = open_location(location)
    try:
        return state(store)  # type: ignore[arg-type] - any store: it only reads sessions
    finally:
        store.close()


def step_counts(store: CentralStore, step: str) -> dict[str, int]:
    with store.transaction() as session:
        return {
            label(n): [s.step for s in session.steps(label(n))].count(step) for n in range(1, 31)
        }


def duplicates(location: str) -> int:
    store = open_location(location)
    with store.transaction() as session:
        total = sum(s.duplicates for s in session.list_streams())
    store.close()
    return total


def tally(day: list[Event], site: str) -> tuple[int, int, int, int]:
    events = [e for e in day if e.site == site]
    kinds = [e.type for e in events]
    return len(events), kinds.count("parcel_deposited"), kinds.count("parcel_picked_up"), 0


@pytest.mark.parametrize("racing", ["threads", "processes"])
def test_a_replayed_day_counts_each_deposit_and_pickup_once(
    store_location: str, racing: str
) -> None:
    day: list[Event] = a_day()
    racers.prepare_day(store_location)
    racers.replay(store_location, day, seed=0)
    first = outcome(store_location)
    deposited = {e.payload.parcel for e in day if e.type == "parcel_deposited"}  # type: ignore[union-attr]
    picked_up = {e.payload.parcel for e in day if e.type == "parcel_picked_up"}  # type: ignore[union-attr]
    # (site, applied seq, deposits, pickups, removals): the whole day, once.
    assert first["tallies"] == [(site, *tally(day, site)) for site in ("L0001", "L0002")]

    # The whole day again, twice over: two members each given every event, shuffled and cut
    # into batches differently, committing at the same time.
    run = run_processes if racing == "processes" else run_threads
    run(racers.replay, [(store_location, day, seed) for seed in (1, 2)])

    assert outcome(store_location) == first
    assert duplicates(store_location) == 2 * len(day)
    store = open_location(store_location)
    deposits, pickups = step_counts(store, "deposit"), step_counts(store, "pick_up")
    store.close()
    assert deposits == {one: int(one in deposited) for one in deposits}
    assert pickups == {one: int(one in picked_up) for one in pickups}
