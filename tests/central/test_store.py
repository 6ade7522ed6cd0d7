"""The SQLite store: migrations, the structural guards, savepoints, task leases."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from central.errors import StoreConflict, StoreError
from central.store import AlarmRecord, ReservationRecord, SqliteStore, TaskRecord
from central.store.records import TaskKind
from central.store.sqlite import WriterTurns
from central.store.sqlite.migrations import LATEST_VERSION


def test_a_new_store_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    assert store.schema_version == LATEST_VERSION
    store.close()
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    # Opening again applies nothing twice.
    assert SqliteStore(tmp_path / "c.sqlite").schema_version == LATEST_VERSION


def test_a_store_from_a_newer_build_is_refused_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this build"):
        SqliteStore(path)


def reservation(label: str, slot: str | None) -> ReservationRecord:
    return ReservationRecord(label, "L0001", "S", created_at=0, until=10, slot=slot)


def test_a_slot_and_a_parcel_can_each_hold_only_one_reservation(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    with store.transaction() as session:
        session.add_reservation(reservation("RR000000015CN", "A1"))
    with pytest.raises(StoreConflict), store.transaction() as session:
        session.add_reservation(reservation("RR000000029CN", "A1"))
    with pytest.raises(StoreConflict), store.transaction() as session:
        session.add_reservation(reservation("RR000000015CN", "A2"))
    with store.transaction() as session:
        assert [r.label for r in session.held_reservations()] == ["RR000000015CN"]


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError), store.transaction() as session:
        session.add_reservation(reservation("RR000000015CN", "A1"))
        raise RuntimeError("crash mid-transaction")
    with store.transaction() as session:
        assert session.held_reservations() == []


def test_a_savepoint_undoes_only_its_own_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    with store.transaction() as session:
        session.add_reservation(reservation("RR000000015CN", "A1"))
        with pytest.raises(ValueError), session.savepoint():
            session.add_reservation(reservation("RR000000029CN", "A2"))
            raise ValueError("this event cannot be applied")
    with store.transaction() as session:
        assert [r.label for r in session.held_reservations()] == ["RR000000015CN"]


def test_an_alarm_is_raised_once_while_open_and_again_after_it_cleared(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    alarm = AlarmRecord("L0001", "door_left_open", 1.0, ref="A1")
    with store.transaction() as session:
        assert session.open_alarm(alarm)
        assert not session.open_alarm(alarm)
        assert session.clear_alarms("L0001", "door_left_open", "A1", 2.0) == 1
        assert session.open_alarm(alarm)
        assert len(session.list_alarms()) == 1
        assert len(session.list_alarms(include_cleared=True)) == 2


def test_a_claimed_task_is_not_run_twice_until_its_lease_runs_out(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    with store.transaction() as session:
        session.add_task(TaskRecord(TaskKind.REMIND, due_at=100.0, label="RR000000015CN"))
        assert session.claim_tasks(50.0, "a", 1000.0) == []  # not due yet
        assert len(session.claim_tasks(100.0, "a", 160.0)) == 1
        assert session.claim_tasks(120.0, "b", 180.0) == []  # a holds the lease
        taken_over = session.claim_tasks(161.0, "b", 221.0)  # a died: b takes over
        assert [t.attempts for t in taken_over] == [2]
        session.finish_task(taken_over[0].id or 0, 162.0)
        assert session.claim_tasks(1e9, "c", 2e9) == []


def test_a_waiting_writer_gets_its_turn_while_another_commits_back_to_back(
    tmp_path: Path,
) -> None:
    # A wave placed in chunks commits and begins again at once; SQLite's own lock would
    # let it in every time and the ingest thread would wait out its busy timeout.
    store = SqliteStore(tmp_path / "c.sqlite")
    stop, hogging = threading.Event(), threading.Event()
    commits = 0

    def back_to_back() -> None:
        nonlocal commits
        while not stop.is_set():
            with store.transaction():
                hogging.set()
                time.sleep(0.01)
            commits += 1

    hog = threading.Thread(target=back_to_back)
    hog.start()
    try:
        assert hogging.wait(5)
        asked_at = commits
        with store.transaction():
            got_in_at = commits
    finally:
        stop.set()
        hog.join()
        store.close()
    # In order: the writer goes in after the transaction under way (and perhaps the one
    # that began as it asked), not after however many the other thread manages to start.
    assert got_in_at - asked_at <= 2, f"{got_in_at - asked_at} transactions went first"


def test_a_transaction_inside_another_is_refused_and_the_store_stays_usable(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    with (
        store.transaction(),
        pytest.raises(StoreError, match="inside another"),
        store.transaction(),
    ):
        pass
    with store.transaction() as session:  # no turn left taken: the next writer goes in
        assert session.list_sites() == []
    store.close()


def test_a_writer_that_gets_no_turn_in_time_is_told_the_store_is_busy(tmp_path: Path) -> None:
    turns = WriterTurns(timeout_s=0.2)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns:
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"), turns:
        pass
    release.set()
    holder.join()
    with turns:  # the turn given up left no gap in the queue
        pass
