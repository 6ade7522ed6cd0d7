"""What a transaction promises on every store: all or nothing, savepoints, conflicts that
leave it usable, and held reservations unique per slot and per parcel."""

from __future__ import annotations

import pytest

from central.errors import StoreConflict, StoreError
from central.store.base import CentralStore
from central.store.records import AlarmRecord, ReservationStatus, StreamCursor
from tests.central.central_rig import label
from tests.central.store_contract.samples import SITE, T0, parcel, reservation, site, slot


def test_an_error_rolls_the_whole_transaction_back(any_store: CentralStore) -> None:
    with pytest.raises(RuntimeError, match="crash"), any_store.transaction() as session:
        session.save_site(site())
        session.save_slot(slot("A"))
        session.save_parcel(parcel(1))
        session.add_reservation(reservation(1, "A"))
        session.open_alarm(AlarmRecord(SITE, "door_forced", T0, ref="A"))
        raise RuntimeError("crash mid-transaction")
    with any_store.transaction() as session:
        assert session.list_sites() == []
        assert session.list_slots(SITE) == []
        assert session.get_parcel(label(1)) is None
        assert session.held_reservations() == []
        assert session.list_alarms() == []


def test_a_committed_transaction_is_seen_by_the_next(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1))
    with any_store.transaction() as session:
        assert session.get_parcel(label(1)) == parcel(1)


def test_a_transaction_inside_another_is_refused_and_the_store_stays_usable(
    any_store: CentralStore,
) -> None:
    # It would wait for a second connection, or for a lock its own outer transaction holds.
    with (
        any_store.transaction(),
        pytest.raises(StoreError, match="inside another"),
        any_store.transaction(),
    ):
        pass
    with any_store.transaction() as session:  # nothing left taken: the next one goes in
        session.save_parcel(parcel(1))
    with any_store.transaction() as session:
        assert session.get_parcel(label(1)) is not None


def test_a_savepoint_undoes_only_its_own_writes(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_reservation(reservation(1, "A"))
        with pytest.raises(ValueError, match="cannot be applied"), session.savepoint():
            session.add_reservation(reservation(2, "B"))
            session.save_parcel(parcel(2))
            raise ValueError("this event cannot be applied")
        with session.savepoint():  # a later savepoint that succeeds keeps its writes
            session.add_reservation(reservation(3, "C"))
        session.save_parcel(parcel(4))
    with any_store.transaction() as session:
        assert sorted(r.label for r in session.held_reservations()) == [label(1), label(3)]
        assert session.get_parcel(label(2)) is None
        assert session.get_parcel(label(4)) is not None


def test_a_store_error_inside_a_savepoint_leaves_the_transaction_usable(
    any_store: CentralStore,
) -> None:
    # A statement the database refuses (here a second current stream of a site) inside a
    # savepoint: on PostgreSQL it aborts the transaction unless rolled back to the savepoint.
    with any_store.transaction() as session:
        session.save_stream(StreamCursor(SITE, epoch="a"))
        with pytest.raises(any_store.errors), session.savepoint():
            session.save_stream(StreamCursor(SITE, epoch="b"))
        session.save_parcel(parcel(1))
    with any_store.transaction() as session:
        assert [s.epoch for s in session.list_streams()] == ["a"]
        assert session.get_parcel(label(1)) is not None


def test_a_slot_and_a_parcel_each_hold_one_reservation_and_the_conflict_is_survivable(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        first = session.add_reservation(reservation(1, "A"))
        assert first.id is not None and first.status is ReservationStatus.HELD
        with pytest.raises(StoreConflict):
            session.add_reservation(reservation(2, "A"))  # the slot is held
        with pytest.raises(StoreConflict):
            session.add_reservation(reservation(1, "B"))  # the parcel holds one
        with pytest.raises(StoreConflict):
            session.add_reservation(reservation(1, None))  # ... on a shelf neither
        # The transaction goes on after each conflict, and commits what it did.
        session.add_reservation(reservation(2, "B"))
        session.add_reservation(reservation(3, None))
        session.add_reservation(reservation(4, None))  # shelves: no slot to collide on
    with any_store.transaction() as session:
        held = sorted((r.label, r.slot) for r in session.held_reservations())
    assert held == [(label(1), "A"), (label(2), "B"), (label(3), None), (label(4), None)]


def test_a_reservation_no_longer_held_frees_its_slot_and_parcel(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        old = session.add_reservation(reservation(1, "A"))
        session.set_reservation(old.id or 0, ReservationStatus.LAPSED, "cmd-1")
        again = session.add_reservation(reservation(1, "A"))  # both free to hold again
        assert again.id != old.id
    with any_store.transaction() as session:
        assert session.held_reservation(label(1)) == again
        assert [r.id for r in session.held_reservations()] == [again.id]


def test_ending_a_held_reservation_happens_once(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        held = session.add_reservation(reservation(1, "A"))
        assert session.end_held_reservation(held.id or 0, ReservationStatus.FULFILLED)
        assert not session.end_held_reservation(held.id or 0, ReservationStatus.LAPSED)
        assert not session.end_held_reservation(9_999, ReservationStatus.LAPSED)
        assert session.held_reservation(label(1)) is None


def test_held_reservations_by_site_and_by_time(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        a = session.add_reservation(reservation(1, "A"))
        b = session.add_reservation(reservation(2, None, site_id="C0001"))
        done = session.add_reservation(reservation(3, "B"))
        session.set_reservation(done.id or 0, ReservationStatus.CANCELLED, None)
        session.set_reservation(a.id or 0, ReservationStatus.HELD, "cmd-a")
    with any_store.transaction() as session:
        [mine] = session.held_reservations(SITE)
        assert mine.command_id == "cmd-a" and mine.slot == "A"
        assert [r.label for r in session.held_reservations("C0001")] == [b.label]
        assert session.held_reservations_until(T0 + 3599) == []
        due = session.held_reservations_until(T0 + 3600)
        assert sorted(r.label for r in due) == [label(1), label(2)]
        assert session.held_reservation(label(3)) is None


def test_what_waits_for_the_commit_runs_once_after_it_and_never_after_a_rollback(
    any_store: CentralStore,
) -> None:
    # An alarm's log line waits for its commit: a transaction retried after a conflict
    # (or an event whose savepoint rolls back) must not say it twice.
    ran: list[str] = []
    with pytest.raises(RuntimeError, match="crash"), any_store.transaction() as session:
        session.after_commit(lambda: ran.append("rolled back"))
        raise RuntimeError("crash mid-transaction")
    with any_store.transaction() as session:
        session.after_commit(lambda: ran.append("kept"))
        with pytest.raises(ValueError, match="undone"), session.savepoint():
            session.after_commit(lambda: ran.append("in an undone savepoint"))
            raise ValueError("undone")
        with session.savepoint():
            session.after_commit(lambda: ran.append("in a released savepoint"))
        assert ran == []  # not yet: the transaction has not committed
    assert ran == ["kept", "in a released savepoint"]
