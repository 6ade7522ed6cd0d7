"""The read path: a read-only snapshot of a real store, written by the real store."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest

from central.errors import StoreError
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.store import (
    AlarmRecord,
    ParcelRecord,
    SqliteStore,
    StepRecord,
    StoredEvent,
    StreamCursor,
)
from central.store.open import open_reader
from central.store.sqlite.migrations import LATEST_VERSION


def parcel(label: str, state: str | None, mode: str | None = None) -> ParcelRecord:
    return ParcelRecord(label, ParcelState(state) if state else None, size="S", delivery_mode=mode)


def step(label: str, name: str, at: float) -> StepRecord:
    # Only the step and its time matter to the reads tested here, not the state it led to.
    return StepRecord(label, ParcelStep(name), None, ParcelState.EXCEPTION, at, "test")


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    """A store holding a small day: parcels in several states, steps, alarms, events."""
    store = SqliteStore(tmp_path / "central.sqlite")
    with store.transaction() as session:
        session.save_parcel(parcel("P1", "collected", "locker"))
        session.save_parcel(parcel("P2", "collected", "counter"))
        session.save_parcel(parcel("P3", "assigned", "home"))
        session.save_parcel(parcel("P4", "assigned", "locker"))
        session.save_parcel(parcel("P5", "announced"))
        session.save_parcel(parcel("P6", "ready_for_pickup", "locker"))
        for label, deposited, picked in (("P1", 100.0, 460.0), ("P2", 200.0, 260.0)):
            session.add_step(step(label, "deposit", deposited))
            session.add_step(step(label, "pick_up", picked))
        session.add_step(step("P6", "deposit", 300.0))
        session.add_step(step("P6", "deposit", 301.0))  # counted twice: a broken promise
        session.open_alarm(AlarmRecord("L0001", "door_forced", 10.0, ref="A"))
        session.open_alarm(AlarmRecord("L0001", "door_forced", 11.0, ref="B"))
        session.open_alarm(AlarmRecord("L0002", "site_offline", 12.0))
        session.clear_alarms("L0001", "door_forced", "A", 20.0)
        for site in ("L0001", "L0002"):
            stream = session.save_stream(StreamCursor(site, epoch="e1", started_at=0.0))
            assert stream.id is not None
            session.add_events(
                [
                    StoredEvent(
                        site, seq, f"{site}-ev{seq}", "door_closed", 1.0, "{}", 1.0, None, stream.id
                    )
                    for seq in (1, 2)
                ]
            )
    return store


def test_the_reader_sees_what_the_store_wrote(store: SqliteStore) -> None:
    with open_reader(store.path) as reader:
        # The lifecycle's order, not the alphabet's.
        assert list(reader.parcel_states().items()) == [
            ("announced", 1),
            ("assigned", 2),
            ("ready_for_pickup", 1),
            ("collected", 2),
        ]
        assert reader.parcel_count() == 6
        assert reader.parcel_count("home") == 1
        assert reader.parcel_count("locker", state="assigned") == 1
        assert reader.delivery_modes("assigned") == {"home": 1, "locker": 1}
        assert reader.delivery_modes() == {"locker": 3, "counter": 1, "home": 1}
        assert sorted(reader.deposit_to_pickup_s()) == [60.0, 360.0]
        assert reader.repeated_steps() == 1
        assert reader.alarm_counts() == {"door_forced": (2, 1), "site_offline": (1, 1)}
        assert reader.event_ids() == {
            "L0001": {"L0001-ev1", "L0001-ev2"},
            "L0002": {"L0002-ev1", "L0002-ev2"},
        }
        assert reader.event_ids("L0002") == {"L0002": {"L0002-ev1", "L0002-ev2"}}
        assert reader.event_ids("L0003") == {}
        # The store's own read models read the same snapshot.
        assert [a.kind for a in reader.view.list_alarms()] == ["door_forced", "site_offline"]
        assert reader.view.get_parcel("P3") == parcel("P3", "assigned", "home")


def test_a_read_while_a_writer_holds_its_transaction_returns_at_once(store: SqliteStore) -> None:
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction() as session:  # BEGIN IMMEDIATE: the write lock is taken
            session.save_parcel(parcel("P7", "announced"))
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10), "the writer never took its lock"
        # The writer's lock is held (another writer would wait for it):
        probe = sqlite3.connect(store.path, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")
        probe.close()
        started = time.monotonic()
        with open_reader(store.path) as reader:
            states = reader.parcel_states()
            alarms = reader.alarm_counts()
        took = time.monotonic() - started
    finally:
        release.set()
        thread.join(10)
    assert took < 1.0, f"a read waited {took:.2f}s behind a writer"
    # It read the last commit, not the writer's uncommitted parcel.
    assert states["announced"] == 1 and alarms["door_forced"] == (2, 1)
    with open_reader(store.path) as reader:
        assert reader.parcel_states()["announced"] == 2


def test_a_with_block_reads_one_snapshot_and_each_call_outside_a_fresh_one(
    store: SqliteStore,
) -> None:
    reader = open_reader(store.path)
    try:
        assert reader.parcel_count() == 6
        with store.transaction() as session:
            session.save_parcel(parcel("P7", "announced"))
        assert reader.parcel_count() == 7  # a call outside a block: the newest commit
    finally:
        reader.close()
    with open_reader(store.path) as reader:
        assert reader.parcel_count() == 7
        with store.transaction() as session:
            session.save_parcel(parcel("P8", "announced"))
        assert reader.parcel_count() == 7  # the block's snapshot
        assert reader.view.get_parcel("P8") is None
    with open_reader(store.path) as reader:
        assert reader.parcel_count() == 8


def test_the_reader_cannot_write(store: SqliteStore) -> None:
    with open_reader(store.path) as reader:
        writes = cast(Any, reader.view)  # a StoreView has no writes; the connection none either
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            writes.save_parcel(parcel("P9", "announced"))
    with open_reader(store.path) as reader:
        assert reader.view.get_parcel("P9") is None


def test_a_missing_or_foreign_store_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    with pytest.raises(StoreError, match=re.escape(str(missing))):
        open_reader(missing)
    assert not missing.exists()  # opening to read created nothing

    newer = tmp_path / "newer.sqlite"
    SqliteStore(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(
        StoreError, match=re.escape(f"{newer} has schema version {LATEST_VERSION + 1}")
    ):
        open_reader(newer)

    plain = tmp_path / "plain.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match=re.escape(f"{plain} is in delete mode, not WAL")):
        open_reader(plain)
