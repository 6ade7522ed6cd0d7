"""The 72-hour promise on a manual clock: each parcel's deadline, the at-risk and breached
alarms raised at the moments the rest of the journey's needs say, and settled when the
parcel reaches its consumer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from central.errors import ConfigError
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.promise import (
    NETWORK_SITE,
    SlaState,
    deadline_for,
    position,
    watch,
)
from central.parcels.steps import CENTRAL, announce, take_step
from central.parcels.tasks import TaskKind
from central.service.config import CentralConfig, PromiseConfig, load_config
from central.service.service import CentralService
from central.store import AlarmRecord, ParcelRecord, SqliteStore, StoreSession, TaskRecord
from protocols.clock import ManualClock
from tests.central.central_rig import announcement, label
from tests.eventually import eventually

H = 3600.0
DISPATCHED = 1_800_000_000.0
DEADLINE = DISPATCHED + 72 * H
PROMISE = PromiseConfig()


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "central.sqlite")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=DISPATCHED + 6 * H)


def parcel_alarms(store: SqliteStore, n: int) -> list[AlarmRecord]:
    with store.transaction() as session:
        return [a for a in session.list_alarms() if a.ref == label(n)]


def parcel(store: SqliteStore, n: int) -> ParcelRecord:
    with store.transaction() as session:
        record = session.get_parcel(label(n))
    assert record is not None
    return record


def announced(store: SqliteStore, n: int, at: float, **changes: object) -> None:
    changes.setdefault("dispatched_at", DISPATCHED)
    with store.transaction() as session:
        announce(session, announcement(n, **changes), at)


def landed(session: StoreSession, n: int, at: float) -> None:
    """Parcel `n`, known only from the carrier's milestone: its flight landed at `at`."""
    take_step(
        session,
        ParcelRecord(label(n), None),
        ParcelStep.MILESTONE,
        at=at,
        source="carrier feed",
        now=at,
        milestone="linehaul_arrived",
        dispatched_at=DISPATCHED,
    )


def step(store: SqliteStore, n: int, step: ParcelStep, at: float, **changes: Any) -> None:
    with store.transaction() as session:
        record = session.get_parcel(label(n))
        assert record is not None
        take_step(session, record, step, at=at, source=CENTRAL, now=at, **changes)


def test_the_deadline_is_dispatch_plus_the_promise_of_the_service_else_the_partner() -> None:
    promise = PromiseConfig(partners={"post": 96}, services={"express": 48})
    base = ParcelRecord(label(1), ParcelState.ANNOUNCED, announced_at=DISPATCHED + 9 * H)
    assert deadline_for(base, promise) == DISPATCHED + 9 * H + 72 * H  # no dispatch known
    dispatched = ParcelRecord(label(1), ParcelState.ANNOUNCED, dispatched_at=DISPATCHED)
    assert deadline_for(dispatched, promise) == DEADLINE
    post = ParcelRecord(label(1), ParcelState.ASSIGNED, dispatched_at=DISPATCHED, partner="post")
    assert deadline_for(post, promise) == DISPATCHED + 96 * H
    express = ParcelRecord(
        label(1), ParcelState.ASSIGNED, dispatched_at=DISPATCHED, partner="post", service="express"
    )
    assert deadline_for(express, promise) == DISPATCHED + 48 * H
    a_return = ParcelRecord(label(1), ParcelState.RETURN_ISSUED, announced_at=DISPATCHED)
    assert deadline_for(dataclasses.replace(a_return, kind="return"), promise) is None


def test_where_a_parcel_is_is_the_further_of_its_milestone_and_its_state() -> None:
    needs = PROMISE.needs
    in_transit = ParcelRecord(label(1), ParcelState.IN_TRANSIT, milestone="linehaul_arrived")
    assert position(in_transit, needs) == "linehaul_arrived"
    # Announced (12 h to go) is further than the linehaul's arrival (30 h).
    announced_ = ParcelRecord(label(1), ParcelState.ANNOUNCED, milestone="linehaul_arrived")
    assert position(announced_, needs) == "announced"
    out = ParcelRecord(label(1), ParcelState.OUT_FOR_DELIVERY, milestone="arrived_at_hub")
    assert position(out, needs) == "out_for_delivery"


def test_at_risk_when_less_is_left_than_the_journey_needs_then_breached_at_the_deadline(
    store: SqliteStore, clock: ManualClock
) -> None:
    announced(store, 1, clock.now())
    watch(store, PROMISE, clock.now())
    assert parcel(store, 1).deadline_at == DEADLINE
    assert parcel(store, 1).sla_state == SlaState.ON_TIME
    # From announcement the rest needs 12 h: on time until 60 h after dispatch. Until then
    # the timer reads nothing: the parcel's next look is at that moment.
    clock.advance(DEADLINE - 12 * H - 1 - clock.now())
    with store.transaction() as session:
        assert session.parcels_to_judge(clock.now(), 100) == []
    watch(store, PROMISE, clock.now())
    assert parcel_alarms(store, 1) == []
    clock.advance(1)
    watch(store, PROMISE, clock.now())
    [at_risk] = parcel_alarms(store, 1)
    assert (at_risk.kind, at_risk.site, at_risk.opened_at) == (
        "parcel_at_risk",
        NETWORK_SITE,
        DEADLINE - 12 * H,
    )
    assert "12 h" in (at_risk.detail or "") and "announced" in (at_risk.detail or "")
    assert parcel(store, 1).sla_state == SlaState.AT_RISK
    clock.advance(12 * H - 1)
    watch(store, PROMISE, clock.now())
    assert [a.kind for a in parcel_alarms(store, 1)] == ["parcel_at_risk"]
    clock.advance(1)  # the deadline: not ready for pickup yet
    watch(store, PROMISE, clock.now())
    [breached] = parcel_alarms(store, 1)
    assert (breached.kind, breached.opened_at) == ("sla_breached", DEADLINE)
    assert parcel(store, 1).sla_state == SlaState.BREACHED
    # It reaches its locker late: the alarm closes, the promise stays broken.
    step(store, 1, ParcelStep.DEPOSIT, DEADLINE + 2 * H, site="L0001")
    assert parcel_alarms(store, 1) == []
    assert parcel(store, 1).sla_state == SlaState.BREACHED


def test_a_parcel_further_back_on_its_journey_is_at_risk_sooner(
    store: SqliteStore, clock: ManualClock
) -> None:
    # Known only from milestones: the flight has landed (30 h to go from there).
    with store.transaction() as session:
        landed(session, 2, clock.now())
    watch(store, PROMISE, clock.now())
    assert parcel(store, 2).deadline_at == DEADLINE
    clock.advance(DEADLINE - 30 * H - clock.now())
    watch(store, PROMISE, clock.now())
    [at_risk] = parcel_alarms(store, 2)
    assert (at_risk.kind, at_risk.opened_at) == ("parcel_at_risk", DEADLINE - 30 * H)


def test_a_parcel_at_risk_that_reaches_its_locker_in_time_meets_the_promise(
    store: SqliteStore, clock: ManualClock
) -> None:
    announced(store, 3, clock.now())
    watch(store, PROMISE, clock.now())
    clock.advance(DEADLINE - 5 * H - clock.now())
    watch(store, PROMISE, clock.now())
    assert [a.kind for a in parcel_alarms(store, 3)] == ["parcel_at_risk"]
    step(store, 3, ParcelStep.DEPOSIT, clock.now(), site="L0001")
    assert parcel_alarms(store, 3) == []
    assert parcel(store, 3).sla_state == SlaState.MET
    clock.advance(10 * H)  # past the deadline: nothing more is raised
    watch(store, PROMISE, clock.now())
    assert parcel_alarms(store, 3) == []
    assert parcel(store, 3).sla_state == SlaState.MET


def test_a_dispatch_time_learnt_later_sets_or_moves_the_deadline(
    store: SqliteStore, clock: ManualClock
) -> None:
    # Accepted at the origin only: no deadline until it is dispatched.
    with store.transaction() as session:
        take_step(
            session,
            ParcelRecord(label(4), None),
            ParcelStep.MILESTONE,
            at=clock.now(),
            source="carrier feed",
            now=clock.now(),
            milestone="accepted_at_origin",
        )
    watch(store, PROMISE, clock.now())
    assert parcel(store, 4).deadline_at is None
    assert parcel(store, 4).sla_state == SlaState.AWAITING_DISPATCH
    step(
        store,
        4,
        ParcelStep.MILESTONE,
        clock.now(),
        milestone="dispatched",
        dispatched_at=DISPATCHED,
    )
    watch(store, PROMISE, clock.now())
    assert parcel(store, 4).deadline_at == DEADLINE
    assert parcel(store, 4).sla_state == SlaState.ON_TIME
    # A manifest's dispatch time, corrected by the carrier's feed: the deadline follows.
    announced(store, 6, clock.now(), dispatched_at=DISPATCHED + 3 * H)
    watch(store, PROMISE, clock.now())
    assert parcel(store, 6).deadline_at == DEADLINE + 3 * H
    step(store, 6, ParcelStep.MILESTONE, clock.now(), dispatched_at=DISPATCHED)
    watch(store, PROMISE, clock.now())
    assert parcel(store, 6).deadline_at == DEADLINE


def test_a_consumers_return_is_not_under_the_promise(
    store: SqliteStore, clock: ManualClock
) -> None:
    with store.transaction() as session:
        take_step(
            session,
            ParcelRecord(label(5), None, kind="return", announced_at=clock.now()),
            ParcelStep.ISSUE_RETURN,
            at=clock.now(),
            source="partner acme",
            now=clock.now(),
        )
    watch(store, PROMISE, clock.now())
    clock.advance(100 * H)
    watch(store, PROMISE, clock.now())
    assert parcel(store, 5).sla_state == SlaState.NOT_COVERED
    assert parcel_alarms(store, 5) == []


def test_a_bad_promise_setting_is_refused_naming_its_key(tmp_path: Path) -> None:
    path = tmp_path / "central.toml"
    path.write_text("[promise.needs]\nlinehaul_landed = 20\n")
    with pytest.raises(ConfigError, match=r"promise\.needs\.linehaul_landed"):
        load_config(path)
    path.write_text("[promise.partners]\npost = 0\n")
    with pytest.raises(ConfigError, match=r"promise\.partners\.post"):
        load_config(path)
    path.write_text("[promise]\nhours = 48\n[promise.needs]\nannounced = 10\n")
    config: CentralConfig = load_config(path)
    assert config.promise.hours == 48
    assert config.promise.needs["announced"] == 10
    assert config.promise.needs["dispatched"] == 60  # the defaults stay for the rest


@pytest.mark.broker
def test_the_running_centrals_timer_raises_the_alarms_on_its_clock(
    config: CentralConfig, start_central: Callable[..., CentralService], clock: ManualClock
) -> None:
    central = start_central()
    store = SqliteStore(config.store.path)
    with store.transaction() as session:  # landed in Singapore, not announced yet
        landed(session, 7, clock.now())
    central.tick()
    assert parcel(store, 7).deadline_at == DEADLINE
    clock.advance(DEADLINE - 30 * H - 1 - clock.now())
    central.tick()
    assert parcel_alarms(store, 7) == []
    clock.advance(1)
    central.tick()
    [at_risk] = parcel_alarms(store, 7)
    assert (at_risk.kind, at_risk.opened_at) == ("parcel_at_risk", DEADLINE - 30 * H)
    clock.advance(30 * H)
    central.tick()
    [breached] = parcel_alarms(store, 7)
    assert (breached.kind, breached.opened_at) == ("sla_breached", DEADLINE)
    assert "linehaul_arrived" in (breached.detail or "")


@pytest.mark.broker
def test_the_timer_goes_on_to_the_promise_while_tasks_keep_coming_due(
    config: CentralConfig, start_central: Callable[..., CentralService], clock: ManualClock
) -> None:
    """On a busy day tasks come due as fast as they are done. The timer's tick spends a bounded
    time on them and goes back to the rest of its work: here, the promise's deadlines (before,
    it stayed in the tasks' loop for as long as one was due and never raised the alarm)."""
    central = start_central()
    store = SqliteStore(config.store.path)
    rounds: list[int] = []

    def endless(tasks: list[TaskRecord], now: float) -> None:
        """Each lockout ended starts another, due at once: work that never runs out."""
        with central.store.transaction() as session:
            for task in tasks:
                assert task.id is not None
                session.finish_task(task.id, now)
                session.add_task(TaskRecord(kind=TaskKind.END_LOCKOUT, due_at=now, site="L9"))
        rounds.append(len(tasks))

    central.tasks.handlers = {**central.tasks.handlers, TaskKind.END_LOCKOUT: endless}
    with store.transaction() as session:
        session.add_task(TaskRecord(kind=TaskKind.END_LOCKOUT, due_at=clock.now(), site="L9"))
        landed(session, 7, clock.now())
    eventually(lambda: len(rounds) >= 3, what="the never-ending tasks running")
    clock.advance(DEADLINE - 30 * H - clock.now())
    eventually(lambda: parcel_alarms(store, 7) != [], what="the at-risk alarm raised meanwhile")
    [at_risk] = parcel_alarms(store, 7)
    assert at_risk.kind == "parcel_at_risk"
    with store.transaction() as session:
        assert session.open_tasks(TaskKind.END_LOCKOUT)  # still work left: the next tick's
