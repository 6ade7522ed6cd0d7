"""A chunk's parcels read at once, on both stores: a carriers' feed recorded in chunks
leaves every parcel exactly as recording it row by row does, a manifest announced in
chunks likewise; and on PostgreSQL (SQLite lets one writer in at a time) two processes
placing the same parcels in opposite orders place each once without a deadlock, and a
parcel that meets a busy site waits for the next transaction while the rest are placed."""

from __future__ import annotations

import threading

import pytest

from central.capacity.reservations import Reservations
from central.parcels.lifecycle import ParcelStep
from central.parcels.milestone_events import record_milestone
from central.parcels.milestone_feed import MilestoneReport, record_reports, report_source
from central.parcels.milestones import Milestone
from central.parcels.steps import announce
from central.sites import registry
from central.store.base import CentralStore
from central.store.queries.milestones import MilestoneRecord
from hw_sim.network.central_process import announce_chunk
from tests.central.central_rig import announcement, label, small_network
from tests.central.store_contract.samples import T0
from tests.central.store_contract.stores import open_location
from tests.eventually import eventually

HOLD_S = 3600.0
RACED = 400  # parcels two processes place at once


def journey(n: int) -> list[MilestoneReport]:
    """A carrier's reports of parcel `n`: out of order, one repeated later, one re-scanned
    earlier, a customs hold heard after its release (so no alarm), and damage."""
    at = T0 - 10_000.0

    def report(milestone: Milestone, offset: float) -> MilestoneReport:
        return MilestoneReport(
            label=label(n), milestone=milestone, at=at + offset, location="SIN", carrier="air"
        )

    return [
        report(Milestone.LINEHAUL_ARRIVED, 500),
        report(Milestone.DISPATCHED, 100),
        report(Milestone.ACCEPTED_AT_ORIGIN, 50),
        report(Milestone.IMPORT_CUSTOMS_RELEASED, 700),
        report(Milestone.IMPORT_CUSTOMS_HELD, 600),
        report(Milestone.DISPATCHED, 90),  # earlier: the dispatch time moves with it
        report(Milestone.LINEHAUL_ARRIVED, 550),  # later: a repeat
        report(Milestone.DAMAGED, 800),
    ]


def numbered(parcels: range) -> list[tuple[int, MilestoneReport]]:
    """The journeys of `parcels` as one feed's rows, numbered from 1."""
    rows = [report for n in parcels for report in journey(n)]
    return list(enumerate(rows, start=1))


def what_tracking_shows(store: CentralStore, n: int) -> tuple[object, ...]:
    """Parcel `n` as `lockernet track` would show it, its label left out."""
    with store.transaction() as session:
        parcel = session.get_parcel(label(n))
        assert parcel is not None
        milestones = [
            (m.milestone, m.at, m.source.split(" row ")[0], m.location)
            for m in session.milestones(label(n))
        ]
        steps = [(s.step, s.before, s.after, s.at, s.detail) for s in session.steps(label(n))]
        return (parcel.state, parcel.milestone, parcel.dispatched_at, milestones, steps)


def test_a_feed_recorded_in_chunks_leaves_parcels_as_recording_row_by_row_does(
    any_store: CentralStore,
) -> None:
    chunked = numbered(range(1, 11))
    outcome = record_reports(any_store, chunked, "carrier feed", T0)
    assert (outcome.recorded, outcome.repeated) == (70, 10)
    by_row = numbered(range(11, 21))
    news = 0
    for row, report in by_row:
        with any_store.transaction() as session:
            news += record_milestone(
                session,
                report.label,
                report.milestone,
                at=report.at,
                source=report_source("carrier feed", row, report),
                now=T0,
                location=report.location,
            )
    assert news == 70
    for n in range(1, 11):
        assert what_tracking_shows(any_store, n) == what_tracking_shows(any_store, n + 10)
    assert what_tracking_shows(any_store, 1)[:3] == ("in_transit", "damaged", T0 - 10_000 + 90)
    # The whole feed again is nothing new.
    again = record_reports(any_store, chunked, "carrier feed", T0)
    assert (again.recorded, again.repeated) == (0, 80)


def test_a_repeat_of_a_milestone_central_has_without_its_parcel_makes_no_parcel(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        session.add_milestone(MilestoneRecord(label(1), "dispatched", T0 - 50, "partner x", T0))
    report = MilestoneReport(label=label(1), milestone=Milestone.DISPATCHED, at=T0 - 40)
    outcome = record_reports(any_store, [(1, report)], "carrier feed", T0)
    assert (outcome.recorded, outcome.repeated) == (0, 1)
    with any_store.transaction() as session:
        assert session.get_parcel(label(1)) is None


def test_a_manifest_announced_in_chunks_keeps_what_the_milestones_told(
    any_store: CentralStore,
) -> None:
    record_reports(any_store, numbered(range(2, 3)), "carrier feed", T0)
    with any_store.transaction() as session:
        announce(session, announcement(3), T0)
    chunk = [announcement(n) for n in (1, 2, 3)]
    assert announce_chunk(any_store, chunk, T0 + 5) == [label(1), label(2)]
    with any_store.transaction() as session:
        in_transit = session.get_parcel(label(2))
        assert in_transit is not None
        assert (in_transit.state, in_transit.milestone) == ("announced", "damaged")
        assert in_transit.dispatched_at == T0 - 10_000 + 90
        again = session.get_parcel(label(3))
        assert again is not None and again.announced_at == T0  # known already: not again


@pytest.mark.postgres
def test_two_processes_placing_the_same_parcels_in_opposite_orders_place_each_once(
    pg_url: str,
) -> None:
    first, second = open_location(pg_url), open_location(pg_url)
    labels = [label(n) for n in range(1, RACED + 1)]
    try:
        with first.transaction() as session:
            registry.load_network(session, small_network())
            for n in range(1, RACED + 1):
                announce(session, announcement(n), T0)
        errors: list[BaseException] = []
        placed: list[int] = []

        def place(store: CentralStore, order: list[str]) -> None:
            try:
                placed.append(Reservations(store, small_network(), HOLD_S).place(order, T0).placed)
            except BaseException as exc:  # noqa: BLE001 - reported below (a deadlock was one)
                errors.append(exc)

        racers = [
            threading.Thread(target=place, args=(first, labels)),
            threading.Thread(target=place, args=(second, labels[::-1])),
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(60)
        assert errors == []
        assert sum(placed) == RACED  # each parcel by one of them
        with first.transaction() as session:
            assert len(session.parcels_in_state(["assigned"])) == RACED
            steps = [s.step for n in range(1, RACED + 1) for s in session.steps(label(n))]
        assert steps.count(ParcelStep.ASSIGN) == RACED
    finally:
        first.close()
        second.close()


def _assigned(store: CentralStore) -> set[str]:
    with store.transaction() as session:
        return {p.label for p in session.parcels_in_state(["assigned"])}


@pytest.mark.postgres
def test_a_parcel_meeting_a_busy_site_does_not_hold_up_the_rest_of_its_chunk(
    pg_url: str,
) -> None:
    store, holder_store, probe = (open_location(pg_url) for _ in range(3))
    try:
        with store.transaction() as session:
            registry.load_network(session, small_network())
            announce(session, announcement(1, size="M"), T0)
            announce(session, announcement(2, size="M", preferred_site="L0002"), T0)
            announce(session, announcement(3, size="M"), T0)
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with holder_store.transaction() as session:
                session.lock_site("L0002")  # as ingest holds a site it applies events of
                holding.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        placing = threading.Thread(
            target=lambda: Reservations(store, small_network(), HOLD_S).place(
                [label(1), label(2), label(3)], T0
            )
        )
        try:
            assert holding.wait(30)
            placing.start()
            # Parcel 3 comes after the one waiting for L0002, and is placed meanwhile.
            eventually(
                lambda: _assigned(probe) == {label(1), label(3)},
                timeout=30,
                what="the parcels not waiting for L0002 placed",
            )
        finally:
            release.set()
            holder.join(30)
            placing.join(30)
        assert _assigned(probe) == {label(1), label(2), label(3)}
        with probe.transaction() as session:
            reservation = session.held_reservation(label(2))
            assert reservation is not None and reservation.site == "L0002"
    finally:
        for opened in (store, holder_store, probe):
            opened.close()
