"""The promise's watch on both stores: parcels without a deadline, parcels due to be judged
by their next look only, a judgement written only while the parcel is still in the state it
was judged in, and the decided outcomes a report reads through the read path."""

from __future__ import annotations

import threading

import pytest

from central.parcels.lifecycle import ParcelState
from central.store.base import CentralStore
from central.store.open import open_reader
from central.store.queries.promise import PromiseOutcome
from tests.central.central_rig import label
from tests.central.store_contract.samples import SITE, T0, parcel

H = 3600.0


def test_parcels_come_up_for_judging_only_when_their_next_look_is_due(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        for n in (1, 2, 3):
            session.save_parcel(parcel(n))
        assert [p.label for p in session.parcels_without_deadline(10)] == [
            label(1),
            label(2),
            label(3),
        ]
        assert session.set_promise(
            label(1),
            "announced",
            deadline_at=T0 + 72 * H,
            sla_state="on_time",
            check_at=T0 + 60 * H,
        )
        assert session.set_promise(
            label(2),
            "announced",
            deadline_at=T0 + 70 * H,
            sla_state="on_time",
            check_at=T0 + 58 * H,
        )
        # Judged as assigned, but it is announced: nothing written.
        assert not session.set_promise(
            label(3), "assigned", deadline_at=T0, sla_state="breached", check_at=None
        )
        assert [p.label for p in session.parcels_without_deadline(10)] == [label(3)]
        assert session.parcels_to_judge(T0 + 57 * H, 10) == []
        due = session.parcels_to_judge(T0 + 60 * H, 10)
        assert [p.label for p in due] == [label(2), label(1)]  # soonest first
        assert due[0].deadline_at == T0 + 70 * H and due[0].sla_state == "on_time"
        session.set_promise_watch(label(2), None, "linehaul_arrived")
        assert [p.label for p in session.parcels_to_judge(T0 + 99 * H, 10)] == [label(1)]


def test_decided_outcomes_are_read_by_deadline_window(
    any_store: CentralStore, store_location: str
) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1, ParcelState.COLLECTED))
        session.save_parcel(parcel(2, ParcelState.READY_FOR_PICKUP, partner="kerry"))
        session.save_parcel(parcel(3, ParcelState.ASSIGNED))
        session.set_promise(label(1), "collected", deadline_at=T0, sla_state="met", check_at=None)
        session.set_promise(
            label(2),
            "ready_for_pickup",
            deadline_at=T0 + 24 * H,
            sla_state="breached",
            check_at=None,
            cause="arrived_at_hub",
        )
        session.set_promise(
            label(3), "assigned", deadline_at=T0 + 1, sla_state="at_risk", check_at=T0 + 1
        )
    with open_reader(store_location) as reader:
        view = reader.view
        assert view.promise_outcomes() == [
            PromiseOutcome(label(1), "met", T0, "post", None, SITE, "locker", None),
            PromiseOutcome(
                label(2), "breached", T0 + 24 * H, "kerry", None, SITE, "locker", "arrived_at_hub"
            ),
        ]
        assert [o.label for o in view.promise_outcomes(T0 + 1, T0 + 48 * H)] == [label(2)]
        assert view.promise_state_counts() == {"met": 1, "breached": 1, "at_risk": 1}


@pytest.mark.postgres
def test_a_batch_to_judge_skips_a_parcel_another_transaction_holds(pg_url: str) -> None:
    """PostgreSQL: a step of ingest holds a parcel's row; the promise's batch neither waits
    for it nor takes it (two central processes' watchers deadlocked with ingest before), and
    the parcel comes up again once it is free."""
    from central.store.postgres import PostgresStore

    store = PostgresStore(pg_url)
    try:
        with store.transaction() as session:
            for n in (1, 2):
                session.save_parcel(parcel(n))
                session.set_promise(
                    label(n), "announced", deadline_at=T0 + 72 * H, sla_state="on_time",
                    check_at=T0 + 60 * H,
                )  # fmt: skip
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with store.transaction() as holder:
                assert holder.get_parcel(label(1)) is not None  # its row locked to the end
                held.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert held.wait(30)
            with store.transaction() as watcher:
                assert [p.label for p in watcher.parcels_to_judge(T0 + 61 * H, 10)] == [label(2)]
        finally:
            release.set()
            holder.join(30)
        with store.transaction() as watcher:
            due = watcher.parcels_to_judge(T0 + 61 * H, 10)
            assert [p.label for p in due] == [label(1), label(2)]
    finally:
        store.close()
