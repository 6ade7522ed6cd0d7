"""Time-driven duties (each tick of the timers): lapsed reservations, doors left open, the
clock's sureness, and when to prune and to sweep stale removal entries."""

from __future__ import annotations

from edge.site.actions import (
    Action,
    ClearFault,
    Emit,
    ForgetExpected,
    PublishState,
    RaiseFault,
    SweepRemovals,
)
from edge.site.readings import doors_left_open
from edge.site.records import SiteRecords
from edge.site.reservations import release
from edge.site.state import SiteRules, SiteState
from protocols.messages import Fault, FaultCleared, FaultComponent

PRUNE_EVERY_S = 3600.0  # sent outbox rows and remembered nonces are pruned hourly
CLOCK_CODE = "unsure"


def lapsed(records: SiteRecords, proven: float) -> list[Action]:
    """Reservations lapsed by `proven` (the time the site can prove, edge/site/clock_guard.py:
    a wall clock stepped days ahead must not lapse what central still keeps) are given back."""
    actions: list[Action] = []
    for expected in records.lapsed(proven):
        if expected.slot:
            actions += release(expected.slot, expected.parcel, records)
        actions.append(ForgetExpected(expected.parcel))
    return actions


def tick(
    rules: SiteRules, state: SiteState, records: SiteRecords, proven: float, now_m: float
) -> list[Action]:
    """One tick's decisions: lapsed reservations and doors left open too long."""
    return lapsed(records, proven) + doors_left_open(rules, state, rules.door_left_open_s, now_m)


def sweep_due(lapsed_any: bool, pruning: bool, swept_once: bool) -> list[Action]:
    """Removal entries of parcels no longer here go when something may have left (a lapse,
    a prune) and at the first tick (what an older agent left)."""
    return [SweepRemovals()] if lapsed_any or pruning or not swept_once else []


def clock_fault(unsure: bool, offset_s: float, state: SiteState, now: float) -> list[Action]:
    """Say so while the wall clock is unsure (offset from the witnessed time, seconds)."""
    standing = state.faults.has(FaultComponent.CLOCK.value, "clock", CLOCK_CODE)
    if unsure and not standing:
        detail = f"wall clock {offset_s:+.0f} s from the latest witnessed time"
        fault = Fault(
            component=FaultComponent.CLOCK, code=CLOCK_CODE, ref="clock", since=now, detail=detail
        )
        return [RaiseFault(fault), PublishState()]
    if not unsure and standing:
        return [
            Emit(FaultCleared(component=FaultComponent.CLOCK, ref="clock", code=CLOCK_CODE)),
            ClearFault(FaultComponent.CLOCK, "clock", CLOCK_CODE),
            PublishState(),
        ]
    return []
