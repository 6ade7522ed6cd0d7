"""The delivery promise: a parcel is ready for pickup or delivered within 72 hours of its
dispatch overseas, and central watches every parcel against it.

A parcel's deadline is its dispatch time (a partner's manifest or the DISPATCHED milestone)
plus the promise's hours: its service's, else its partner's, else `[promise] hours`. Until a
dispatch time is known the announcement stands in for it; once one becomes known the
deadline is set again from it.

Where a parcel stands (its `sla_state`, a SlaState value):

    on_time  -> at_risk   less time is left than the rest of the journey needs from the
                          milestone or state it is at ([promise] needs): alarm parcel_at_risk
             -> breached  the deadline passed before it reached its consumer: alarm
                          sla_breached, and `sla_cause` keeps where it was at that moment
             -> met       it reached its consumer (ready for pickup, or delivered) in time
             -> ended     lost, returned to origin, or returned before reaching anyone

Both alarms close when the parcel reaches its consumer or ends. The timer does the judging
(`watch`): each parcel carries the time it must next be looked at (`sla_check_at`: the
moment it would turn at risk, then its deadline), so a tick reads only the parcels due, by
an index, never every parcel. A step that moves a parcel on (central/parcels/steps.py)
settles it at once (`after_step`).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass

from central.parcels.lifecycle import ParcelState
from central.parcels.milestones import Milestone
from central.service.config import DEFAULT_NEEDS_H, PromiseConfig
from central.sites.alarms import AlarmKind, clear_alarm, raise_alarm
from central.store import CentralStore, ParcelRecord, StoreSession
from protocols.localtime import timestamp

HOUR_S = 3600.0
# The alarm `site` of a parcel not at a site yet (in transit, announced, a home delivery).
NETWORK_SITE = "network"
# The timer shares the store's writer with ingest (SQLite serialises every write, and a
# PostgreSQL site lock is held as long): a tick judges for at most this long (wall seconds),
# in transactions of `[promise] batch` parcels (about 0.3 ms a parcel on SQLite), so ingest
# waits at most one batch for the store. With the whole batch of 2,000 over three rounds a
# tick, the simulated day's central held the writer for seconds at a time and its ingest
# fell hours of simulated time behind. What is left waits for the next tick.
WATCH_BUDGET_S = 0.1
# A consumer's return (ParcelRecord.kind) is not under the promise.
RETURN_KIND = "return"


class SlaState(enum.StrEnum):
    """Where a parcel stands against its promise."""

    ON_TIME = "on_time"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    ENDED = "ended"  # lost, returned to origin or to the partner before reaching anyone
    AWAITING_DISPATCH = "awaiting_dispatch"  # neither dispatched nor announced yet
    NOT_COVERED = "not_covered"  # a consumer's return: no promise


# The parcel has reached its consumer: in a compartment or on a shelf, or handed over.
REACHED = frozenset(
    {
        ParcelState.READY_FOR_PICKUP,
        ParcelState.REMINDED,
        ParcelState.COLLECTED,
        ParcelState.DELIVERED,
        ParcelState.EXPIRED,
    }
)
# It never will.
ENDED_STATES = frozenset({ParcelState.LOST, ParcelState.RETURNED_TO_ORIGIN, ParcelState.RETURNED})
# Parcels dispatch carries first, to the partners with the better on-time record.
URGENT = frozenset({SlaState.AT_RISK, SlaState.BREACHED})
# States whose promise is decided for good (only alarms may still need closing).
SETTLED = frozenset({SlaState.MET, SlaState.BREACHED, SlaState.ENDED, SlaState.NOT_COVERED})
_JOURNEY = [m for m in Milestone if not m.exception]


def promise_hours(parcel: ParcelRecord, promise: PromiseConfig) -> float:
    """The hours promised for `parcel`: its service's, else its owner's or last-mile
    partner's (in that order), else the network's."""
    if parcel.service is not None and parcel.service in promise.services:
        return promise.services[parcel.service]
    for partner in (parcel.owner, parcel.partner):
        if partner is not None and partner in promise.partners:
            return promise.partners[partner]
    return promise.hours


def deadline_for(parcel: ParcelRecord, promise: PromiseConfig) -> float | None:
    """When `parcel` must be ready for pickup or delivered (Unix s): its dispatch time (else
    its announcement's) plus `promise_hours`. None for a consumer's return, or a parcel with
    neither time known yet."""
    if parcel.kind == RETURN_KIND:
        return None
    start = parcel.dispatched_at if parcel.dispatched_at is not None else parcel.announced_at
    if start is None:
        return None
    return start + promise_hours(parcel, promise) * HOUR_S


def need_hours(name: str, needs: dict[str, float]) -> float:
    """What the rest of the journey needs (hours) from a milestone or state `name`. One not
    in `needs` takes the need of the last milestone before it (an exception ranks where it
    happens), or for a state the need from announcement."""
    if name in needs:
        return needs[name]
    try:
        milestone = Milestone(name)
    except ValueError:
        return needs.get(ParcelState.ANNOUNCED.value, DEFAULT_NEEDS_H["announced"])
    for earlier in reversed(_JOURNEY):
        if earlier.rank <= milestone.rank and earlier.value in needs:
            return needs[earlier.value]
    return max(needs.values(), default=0.0)


def position(parcel: ParcelRecord, needs: dict[str, float]) -> str:
    """Where the parcel is on its journey: of its furthest milestone and its state in
    Singapore, the one the rest of the journey needs least from (the further along)."""
    names = [n for n in (parcel.milestone, parcel.state) if n is not None]
    names = [n for n in names if n != ParcelState.IN_TRANSIT.value]
    if not names:
        return Milestone.ACCEPTED_AT_ORIGIN.value
    return min(names, key=lambda n: need_hours(n, needs))


@dataclass(frozen=True)
class Judgement:
    """Where an open parcel stands at a moment: its state, when to look again (None:
    never), and where it was if the deadline has passed."""

    sla_state: SlaState
    check_at: float | None
    where: str  # the milestone or state it is at (`position`)
    left_s: float
    need_s: float

    @property
    def cause(self) -> str | None:
        """Where the time was lost: where it was when the deadline passed."""
        return self.where if self.sla_state is SlaState.BREACHED else None


def judge(parcel: ParcelRecord, deadline: float, promise: PromiseConfig, now: float) -> Judgement:
    """Judge a parcel that has not reached its consumer: breached once `now` is at or past
    `deadline`; at risk once no more time is left than the journey from its position needs;
    else on time until that moment."""
    left = deadline - now
    where = position(parcel, promise.needs)
    need = need_hours(where, promise.needs) * HOUR_S
    if left <= 0:
        return Judgement(SlaState.BREACHED, None, where, left, need)
    if left <= need:
        return Judgement(SlaState.AT_RISK, deadline, where, left, need)
    return Judgement(SlaState.ON_TIME, deadline - need, where, left, need)


# ------------------------------------------------------------------------------ the timer


@dataclass
class PromiseTally:
    """What one round of `watch` did."""

    stamped: int = 0
    at_risk: int = 0
    breached: int = 0


def watch(store: CentralStore, promise: PromiseConfig, now: float) -> PromiseTally:
    """The timer's work: set the deadline of parcels that have none yet, then judge the
    parcels due (`sla_check_at` at or before `now`), each batch in a transaction of its own.
    Alarms are raised in the transaction that changes the parcel's SLA state."""
    tally = PromiseTally()
    # Each phase its own budget: a backlog of parcels to stamp never starves the judging.
    until = time.monotonic() + WATCH_BUDGET_S
    while True:
        with store.transaction() as session:
            parcels = session.parcels_without_deadline(promise.batch)
            for parcel in parcels:
                _stamp(session, parcel, promise, now, tally)
        if len(parcels) < promise.batch or time.monotonic() >= until:
            break
    until = time.monotonic() + WATCH_BUDGET_S
    while True:
        with store.transaction() as session:
            parcels = session.parcels_to_judge(now, promise.batch)
            for parcel in parcels:
                _judge_due(session, parcel, promise, now, tally)
        if len(parcels) < promise.batch or time.monotonic() >= until:
            break
    return tally


def _stamp(
    session: StoreSession,
    parcel: ParcelRecord,
    promise: PromiseConfig,
    now: float,
    tally: PromiseTally,
) -> None:
    state = ParcelState(parcel.state) if parcel.state else None
    deadline = deadline_for(parcel, promise)
    if parcel.kind == RETURN_KIND:
        session.set_promise(
            parcel.label, parcel.state, deadline_at=None, sla_state=SlaState.NOT_COVERED,
            check_at=None,
        )  # fmt: skip
    elif state in ENDED_STATES:
        session.set_promise(
            parcel.label, parcel.state, deadline_at=deadline, sla_state=SlaState.ENDED,
            check_at=None,
        )  # fmt: skip
    elif deadline is None:
        # Watched once a step gives it a dispatch or announcement time (after_step).
        session.set_promise(
            parcel.label, parcel.state, deadline_at=None,
            sla_state=SlaState.AWAITING_DISPATCH, check_at=None,
        )  # fmt: skip
    elif state in REACHED:
        # It got there before the timer first saw it: judged by when it did.
        reached = _reached_at(session, parcel.label)
        met = reached is not None and reached < deadline
        session.set_promise(
            parcel.label, parcel.state, deadline_at=deadline,
            sla_state=SlaState.MET if met else SlaState.BREACHED, check_at=None,
            cause=None if met else position(parcel, promise.needs),
        )  # fmt: skip
    else:
        parcel = dataclasses.replace(parcel, deadline_at=deadline)
        _apply(session, parcel, judge(parcel, deadline, promise, now), now, tally)
    tally.stamped += 1


def _judge_due(
    session: StoreSession,
    parcel: ParcelRecord,
    promise: PromiseConfig,
    now: float,
    tally: PromiseTally,
) -> None:
    state = ParcelState(parcel.state) if parcel.state else None
    if (
        parcel.deadline_at is None
        or parcel.sla_state in SETTLED
        or state in REACHED
        or state in ENDED_STATES
    ):
        session.set_promise_watch(parcel.label, None, None)  # a step settled it already
        return
    _apply(session, parcel, judge(parcel, parcel.deadline_at, promise, now), now, tally)


def _apply(
    session: StoreSession, parcel: ParcelRecord, verdict: Judgement, now: float, tally: PromiseTally
) -> None:
    """Write a judgement and raise the alarm it calls for (once: only on the change)."""
    written = session.set_promise(
        parcel.label,
        parcel.state,
        deadline_at=parcel.deadline_at,
        sla_state=verdict.sla_state,
        check_at=verdict.check_at,
        cause=verdict.cause,
    )
    if not written or verdict.sla_state == parcel.sla_state:
        return
    deadline = parcel.deadline_at or now
    site = parcel.site or NETWORK_SITE
    if verdict.sla_state is SlaState.AT_RISK:
        raise_alarm(
            session,
            site,
            AlarmKind.PARCEL_AT_RISK,
            now,
            ref=parcel.label,
            detail=(
                f"{verdict.left_s / HOUR_S:.1f} h left before its deadline "
                f"({timestamp(deadline)}); from {verdict.where} the rest of the journey "
                f"needs {verdict.need_s / HOUR_S:g} h"
            ),
        )
        tally.at_risk += 1
    elif verdict.sla_state is SlaState.BREACHED:
        _clear(session, parcel, AlarmKind.PARCEL_AT_RISK, now)
        raise_alarm(
            session,
            site,
            AlarmKind.SLA_BREACHED,
            now,
            ref=parcel.label,
            detail=f"deadline {timestamp(deadline)} passed at {verdict.where}",
        )
        tally.breached += 1
    elif parcel.sla_state == SlaState.AT_RISK:  # a new deadline gave it time again
        _clear(session, parcel, AlarmKind.PARCEL_AT_RISK, now)


def _clear(
    session: StoreSession,
    parcel: ParcelRecord,
    kind: AlarmKind,
    at: float,
    more_sites: Iterable[str | None] = (),
) -> None:
    """Close the parcel's alarm of `kind` wherever it was raised: at its site now, a site
    it had before, or the network's."""
    for site in {parcel.site, *more_sites, NETWORK_SITE}:
        if site is not None:
            clear_alarm(session, site, kind, at, ref=parcel.label)


def _reached_at(session: StoreSession, label: str) -> float | None:
    for step in session.steps(label):
        if step.after in REACHED:
            return step.at
    return None


# ------------------------------------------------------------------------------ the steps


def after_step(
    session: StoreSession, before: ParcelRecord, after: ParcelRecord, at: float
) -> ParcelRecord:
    """The promise's part of a step (called by take_step before the parcel is saved):
    returns `after` with its promise brought up to date. A new dispatch or announcement
    time sets the deadline again (the timer stamps it); reaching the consumer at `at` (the
    step's time) meets or breaks the promise; ending without reaching anyone ends it. Both
    alarms close then."""
    if after.kind == RETURN_KIND:
        return after
    state = SlaState(after.sla_state) if after.sla_state else None
    reached = after.state in REACHED and before.state not in REACHED
    ended = after.state in ENDED_STATES and before.state not in ENDED_STATES
    if reached or ended:
        if state in (SlaState.ON_TIME, SlaState.AT_RISK) and after.deadline_at is not None:
            if ended:
                outcome, cause = SlaState.ENDED, None
            elif at < after.deadline_at:
                outcome, cause = SlaState.MET, None
            else:  # the timer had not judged it yet
                outcome, cause = SlaState.BREACHED, position(before, DEFAULT_NEEDS_H)
            after = dataclasses.replace(after, sla_state=outcome)
            session.set_promise_watch(after.label, None, cause)
        if state in (SlaState.AT_RISK, SlaState.BREACHED):
            _clear(session, after, AlarmKind.PARCEL_AT_RISK, at, [before.site])
            _clear(session, after, AlarmKind.SLA_BREACHED, at, [before.site])
        return after
    start_before = before.dispatched_at if before.dispatched_at is not None else before.announced_at
    start_after = after.dispatched_at if after.dispatched_at is not None else after.announced_at
    if start_after != start_before and state not in SETTLED:
        # The timer stamps it again from the new time (and judges it at once).
        session.set_promise_watch(after.label, None, None)
        return dataclasses.replace(after, deadline_at=None, sla_state=None)
    return after
