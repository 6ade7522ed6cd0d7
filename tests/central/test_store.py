"""The SQLite store's own parts: migrations, WAL, and the fair queue of this process's writers.

What every store must do (transactions, savepoints, unique reservations, alarms, task leases,
the races of several processes) is the store contract: tests/central/store_contract/."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from central.errors import StoreError
from central.store import SqliteStore
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
