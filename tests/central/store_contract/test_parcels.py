"""Parcels, their steps, pickup codes and removals on every store."""

from __future__ import annotations

import dataclasses
import threading

from central.store.base import CentralStore
from central.store.postgres.url import is_postgres_url
from central.store.records import (
    CodeRecord,
    CodeStatus,
    ParcelState,
    ParcelStep,
    RemovalRecord,
    StepRecord,
)
from tests.central.central_rig import label
from tests.central.store_contract.samples import SITE, T0, parcel


def test_a_parcel_comes_back_as_saved_and_saving_again_replaces_it(any_store: CentralStore) -> None:
    full = parcel(1)
    bare = dataclasses.replace(
        parcel(2, state=None), size=None, contact=None, site=None, slot=None, courier=None
    )
    with any_store.transaction() as session:
        session.save_parcel(full)
        session.save_parcel(bare)
    with any_store.transaction() as session:
        assert session.get_parcel(label(1)) == full
        assert session.get_parcel(label(2)) == bare
        assert session.get_parcel(label(3)) is None
        moved = dataclasses.replace(full, state=ParcelState.READY_FOR_PICKUP, slot="D")
        session.save_parcel(moved)
    with any_store.transaction() as session:
        record = session.get_parcel(label(1))
    assert record == moved
    assert record is not None and record.state is ParcelState.READY_FOR_PICKUP
    assert record.contact is not None and record.contact.phone == "+65 9123 4567"


def test_parcels_are_found_and_counted_by_state(any_store: CentralStore) -> None:
    states = [ParcelState.ANNOUNCED, ParcelState.ASSIGNED, ParcelState.ASSIGNED, None]
    with any_store.transaction() as session:
        for n, state in enumerate(states, 1):
            session.save_parcel(parcel(n, state=state, courier="K2" if n == 3 else "K1"))
        session.save_parcel(parcel(5, state=ParcelState.ASSIGNED, courier=None))
        session.save_parcel(parcel(6, state=ParcelState.ANNOUNCED, partner="fast", courier="K2"))
    with any_store.transaction() as session:
        found = session.parcels_in_state(["assigned", "announced"])
        assert [p.label for p in found] == [label(n) for n in (1, 2, 3, 5, 6)]
        assert len(session.parcels_in_state(["assigned"], limit=2)) == 2
        assert session.parcels_in_state(["collected"]) == []
        assert session.parcel_state_counts() == {"announced": 2, "assigned": 3, "unknown": 1}
        assert sorted(session.courier_loads(["assigned", "announced"])) == [
            ("fast", "K2", 1),
            ("post", "K1", 2),
            ("post", "K2", 1),
        ]


def test_claiming_a_parcel_takes_it_only_in_the_states_asked(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1, state=ParcelState.ANNOUNCED))
    with any_store.transaction() as session:
        claimed = session.claim_parcel(label(1), ["announced"])
        assert claimed is not None and claimed.label == label(1)
        assert session.claim_parcel(label(1), ["assigned", "collected"]) is None
        assert session.claim_parcel(label(1), []) is None
        assert session.claim_parcel(label(9), ["announced"]) is None


def test_a_look_at_parcels_reads_the_last_commit_and_waits_for_no_writer(
    any_store: CentralStore, store_location: str
) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1, state=ParcelState.READY_FOR_PICKUP))
        session.save_parcel(parcel(2))
    with any_store.transaction() as session:
        looked = session.read_parcels([label(2), label(1), label(9), label(1)])
    assert looked == {label(1): parcel(1, state=ParcelState.READY_FOR_PICKUP), label(2): parcel(2)}
    if not is_postgres_url(store_location):
        return  # SQLite lets one writer in at a time: there is no other writer to not wait for
    # A writer holds parcel 1's row (a pickup being applied): the look answers at once, with
    # what was committed before it, and the writer's change is seen once it commits.
    holding, release = threading.Event(), threading.Event()

    def pickup() -> None:
        with any_store.transaction() as session:
            held = session.get_parcel(label(1))
            assert held is not None
            session.save_parcel(dataclasses.replace(held, state=ParcelState.COLLECTED))
            holding.set()
            release.wait(30)

    writer = threading.Thread(target=pickup)
    writer.start()
    try:
        assert holding.wait(30)
        with any_store.transaction() as session:
            assert session.read_parcels([label(1)])[label(1)].state is ParcelState.READY_FOR_PICKUP
    finally:
        release.set()
        writer.join(30)
    with any_store.transaction() as session:
        assert session.read_parcels([label(1)])[label(1)].state is ParcelState.COLLECTED


def test_steps_come_back_in_the_order_recorded(any_store: CentralStore) -> None:
    steps = [
        StepRecord(label(1), ParcelStep.ANNOUNCE, None, ParcelState.ANNOUNCED, T0 + 9, "partner"),
        StepRecord(
            label(1),
            ParcelStep.ASSIGN,
            ParcelState.ANNOUNCED,
            ParcelState.ASSIGNED,
            T0 + 1,  # an earlier time, recorded later: the order is the recording's
            "central",
            detail="chosen_locker: L0001 slot C M",
            recorded_at=T0 + 10,
        ),
    ]
    with any_store.transaction() as session:
        for step in steps:
            session.add_step(step)
        session.add_step(
            StepRecord(label(2), ParcelStep.ANNOUNCE, None, ParcelState.ANNOUNCED, 1, "x")
        )
    with any_store.transaction() as session:
        found = session.steps(label(1))
        assert found == steps
        assert found[1].step is ParcelStep.ASSIGN and found[1].before is ParcelState.ANNOUNCED
        assert session.steps(label(3)) == []


def test_codes_are_listed_by_issue_time_and_change_status(any_store: CentralStore) -> None:
    later = CodeRecord("c2", label(1), SITE, "K7M2-QP", T0 + 60, T0 + 3600)
    first = CodeRecord("c1", label(1), SITE, "A1B2-CD", T0, T0 + 3600)
    with any_store.transaction() as session:
        session.add_code(later)
        session.add_code(first)
        session.add_code(CodeRecord("c3", label(2), SITE, "ZZZZ-ZZ", T0, T0 + 1))
        session.set_code_status("c1", CodeStatus.REVOKED)
    with any_store.transaction() as session:
        codes = session.codes(label(1))
        assert codes == [dataclasses.replace(first, status=CodeStatus.REVOKED), later]
        assert codes[0].status is CodeStatus.REVOKED
        assert session.codes(label(9)) == []


def test_removals_are_stored_once_and_open_until_finished(any_store: CentralStore) -> None:
    expired = RemovalRecord(label(1), SITE, "expired", T0, slot="C")
    returned = RemovalRecord(label(2), "L0002", "return", T0 + 1)
    with any_store.transaction() as session:
        session.add_removal(expired)
        session.add_removal(expired)  # the same one again (its task retried): stored once
        session.add_removal(returned)
    with any_store.transaction() as session:
        assert session.open_removals() == [expired, returned]
        assert session.open_removals(SITE) == [expired]
        session.finish_removals(label(1), T0 + 9)
        assert session.open_removals() == [returned]
        session.finish_removals(label(1), T0 + 10)  # done already: nothing changes
        session.finish_removals(label(7), T0 + 10)  # none: nothing changes
        assert session.open_removals() == [returned]
    with any_store.transaction() as session:
        assert session.open_removals() == [returned]
