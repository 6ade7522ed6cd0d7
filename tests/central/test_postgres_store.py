"""The PostgreSQL store's own parts on a real server (the `pg_url` fixture): its schema and
migrations, its locks at READ COMMITTED, the opener's urls, and the read path on both stores.

What every store method does is the store contract suite's (run on SQLite and PostgreSQL);
here is what only PostgreSQL has, or what the opener decides.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from central.broker.launcher import free_port
from central.errors import ConfigError, StoreError
from central.parcels.lifecycle import ParcelState
from central.service.config import StoreConfig, load_config
from central.store import AlarmRecord, ParcelRecord, SqliteStore, TaskRecord
from central.store.base import CentralStore, StoreSession
from central.store.open import open_reader, open_store, store_location
from central.store.postgres import PostgresStore
from central.store.postgres.connection import translate
from central.store.postgres.migrations import LATEST_VERSION, MIGRATIONS
from central.store.postgres.reader import PostgresReader, close_reader_pools
from central.store.postgres.url import redact
from central.store.read import SqliteReader
from central.store.records import TaskKind
from central.store.sqlite import migrations as sqlite_migrations

# A wait that must not happen: far below any lock or pool timeout, far above a local query.
NO_WAIT_S = 1.0
# How long a test lets a blocked transaction stay blocked before it calls it blocked.
STILL_BLOCKED_S = 0.3


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url)
    yield store
    store.close()
    close_reader_pools()


def parcel(label: str, state: str = "announced") -> ParcelRecord:
    return ParcelRecord(label, ParcelState(state), size="S", updated_at=1.0)


# --------------------------------------------------------------- placeholders and urls


def test_placeholders_become_psycopgs_and_percent_signs_stay_text() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c = ?") == (
        "SELECT a FROM t WHERE b = %s AND c = %s"
    )
    assert translate("SELECT '50%' || ?, x % 2") == "SELECT '50%%' || %s, x %% 2"
    # A ? inside a literal or a quoted name is text, not a parameter.
    assert translate("SELECT 'what?', \"odd?\" FROM t WHERE a = ?") == (
        "SELECT 'what?', \"odd?\" FROM t WHERE a = %s"
    )


def test_a_password_never_shows() -> None:
    assert redact("postgresql://central:s3cret@db:5432/lockernet") == (
        "postgresql://central:***@db:5432/lockernet"
    )
    assert "s3cret" not in redact("postgresql://central@db/lockernet?password=s3cret&x=1")
    assert redact("postgresql://central@db/lockernet") == "postgresql://central@db/lockernet"


def test_a_store_that_cannot_be_reached_is_named_without_its_password() -> None:
    url = f"postgresql://central:s3cret@127.0.0.1:{free_port()}/lockernet"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    assert "s3cret" not in str(caught.value)
    assert "central:***@127.0.0.1" in str(caught.value)
    with pytest.raises(StoreError) as read_caught:
        open_reader(url)
    assert "s3cret" not in str(read_caught.value)
    close_reader_pools()


# ------------------------------------------------------------------------- the opener


def write_config(folder: Path, store_section: str) -> Path:
    path = folder / "central.toml"
    path.write_text(f"[store]\n{store_section}\n")
    return path


def test_store_urls_name_sqlite_files_relative_to_the_config_or_a_postgresql_database(
    tmp_path: Path,
) -> None:
    relative = load_config(write_config(tmp_path, 'url = "sqlite:data/c.sqlite"'), environ={})
    assert relative.store.url is None
    assert relative.store.path == tmp_path.resolve() / "data" / "c.sqlite"
    absolute = load_config(
        write_config(tmp_path, f'url = "sqlite://{tmp_path}/abs.sqlite"'), environ={}
    )
    assert absolute.store.path == tmp_path / "abs.sqlite"
    url = "postgresql://central@db.example:5432/lockernet"
    remote = load_config(write_config(tmp_path, f'url = "{url}"'), environ={})
    assert remote.store.url == url
    assert store_location(remote.store) == url
    assert store_location(relative.store) == str(relative.store.path)
    # The environment can point a process at another store, as any key.
    moved = load_config(
        write_config(tmp_path, ""),
        environ={"LOCKERNET_CENTRAL__STORE__URL": "sqlite:other.sqlite"},
    )
    assert moved.store.path == tmp_path.resolve() / "other.sqlite"


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ('url = "mysql://central:s3cret@db/lockernet"', "store.url 'mysql'"),
        ('url = "sqlite://host/c.sqlite"', "names no host"),
        ('url = "sqlite:"', "names no file"),
        ('url = "sqlite:a.sqlite"\npath = "b.sqlite"', "store.path or a sqlite: store.url"),
    ],
)
def test_a_store_url_that_names_no_store_stops_start_up(
    tmp_path: Path, section: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)) as caught:
        load_config(write_config(tmp_path, section), environ={})
    assert "s3cret" not in str(caught.value)


def test_the_opener_picks_the_engine_from_the_config(tmp_path: Path) -> None:
    store = open_store(StoreConfig(path=tmp_path / "c.sqlite"))
    try:
        assert isinstance(store, SqliteStore)
    finally:
        store.close()
    with open_reader(f"sqlite://{tmp_path}/c.sqlite") as reader:
        assert isinstance(reader, SqliteReader)
        assert reader.parcel_count() == 0
    with pytest.raises(ConfigError, match="neither sqlite: nor postgresql://"):
        open_reader("mysql://db/lockernet")


# ------------------------------------------------------------------------- migrations


def pg_columns(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT table_name, column_name FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name <> 'schema_version'
                ORDER BY table_name, ordinal_position"""
        ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def sqlite_columns(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def pg_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


@pytest.mark.postgres
def test_a_fresh_database_gets_the_same_tables_and_columns_as_sqlite(
    pg_url: str, tmp_path: Path
) -> None:
    assert LATEST_VERSION == sqlite_migrations.LATEST_VERSION, "a migration is missing here"
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == LATEST_VERSION
    finally:
        store.close()
    SqliteStore(tmp_path / "c.sqlite").close()
    # Same names, same order: a column added to one engine only fails here.
    assert pg_columns(pg_url) == sqlite_columns(tmp_path / "c.sqlite")


@pytest.mark.postgres
def test_opening_again_migrates_nothing(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    store = PostgresStore(pg_url)
    try:
        with store.transaction() as session:
            session.save_parcel(parcel("P1"))
    finally:
        store.close()
    PostgresStore(pg_url).close()
    assert pg_versions(pg_url) == [m.version for m in MIGRATIONS]  # each once
    again = PostgresStore(pg_url)
    try:
        with again.transaction() as session:
            assert session.get_parcel("P1") is not None  # the data survived reopening
    finally:
        again.close()


@pytest.mark.postgres
def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    program = (
        "import sys; from central.store.postgres import PostgresStore; "
        "PostgresStore(sys.argv[1]).close()"
    )
    starts = [
        subprocess.Popen([sys.executable, "-c", program, pg_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], errors
    assert pg_versions(pg_url) == [m.version for m in MIGRATIONS]  # each once


@pytest.mark.postgres
def test_a_newer_schema_is_refused(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO schema_version (version, name) VALUES (%s, 'from the future')",
            (LATEST_VERSION + 1,),
        )
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1}, newer"):
        PostgresStore(pg_url)
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1}, this build"):
        open_reader(pg_url)
    close_reader_pools()


@pytest.mark.postgres
def test_a_database_central_never_ran_on_is_no_store_to_read(pg_url: str) -> None:
    with pytest.raises(StoreError, match="no central store at"):
        open_reader(pg_url)
    close_reader_pools()


# ---------------------------------------------------------------- READ COMMITTED locks


def in_thread(
    store: CentralStore, work: Callable[[StoreSession], object]
) -> tuple[threading.Event, ...]:
    """Run `work(session)` in a transaction on another thread, held open until released;
    returns (work done, release, transaction over)."""
    done, release, over = threading.Event(), threading.Event(), threading.Event()

    def run() -> None:
        try:
            with store.transaction() as session:
                work(session)
                done.set()
                release.wait(30)
        finally:
            over.set()

    threading.Thread(target=run, daemon=True).start()
    return done, release, over


@pytest.mark.postgres
def test_one_process_at_a_time_decides_about_a_site(pg_store: PostgresStore) -> None:
    first_done, release, _ = in_thread(pg_store, lambda s: s.lock_site("L0001"))
    assert first_done.wait(10)
    try:
        # Another site is free at once.
        other_done, other_release, _ = in_thread(pg_store, lambda s: s.lock_site("L0002"))
        assert other_done.wait(NO_WAIT_S)
        other_release.set()
        # The same site, taken through the stream read as ingest does, waits.
        second_done, second_release, _ = in_thread(pg_store, lambda s: s.stream("L0001"))
        assert not second_done.wait(STILL_BLOCKED_S)
    finally:
        release.set()
    assert second_done.wait(10)
    second_release.set()


@pytest.mark.postgres
def test_a_parcel_read_to_be_changed_waits_for_the_change_before(
    pg_store: PostgresStore,
) -> None:
    with pg_store.transaction() as session:
        session.save_parcel(parcel("P1"))

    def assign(session: StoreSession) -> None:
        record = session.get_parcel("P1")
        assert record is not None
        session.save_parcel(parcel("P1", "assigned"))

    first_done, release, _ = in_thread(pg_store, assign)
    assert first_done.wait(10)
    seen: list[str | None] = []

    def read(session: StoreSession) -> None:
        record = session.get_parcel("P1")
        seen.append(record.state if record else None)

    second_done, second_release, _ = in_thread(pg_store, read)
    assert not second_done.wait(STILL_BLOCKED_S)
    release.set()
    assert second_done.wait(10)
    second_release.set()
    # It read the state the first transaction wrote, not the one before it.
    assert seen == ["assigned"]


@pytest.mark.postgres
def test_two_processes_claiming_tasks_never_take_the_same_one_nor_wait(
    pg_store: PostgresStore,
) -> None:
    with pg_store.transaction() as session:
        ids = {
            session.add_task(TaskRecord(kind=TaskKind.REMIND, due_at=float(i))) for i in range(6)
        }
    first: list[TaskRecord] = []
    first_done, release, first_over = in_thread(
        pg_store, lambda s: first.extend(s.claim_tasks(100.0, "one", 160.0, limit=4))
    )
    assert first_done.wait(10)
    try:
        started = time.monotonic()
        with pg_store.transaction() as session:
            second = session.claim_tasks(100.0, "two", 160.0, limit=10)
        assert time.monotonic() - started < NO_WAIT_S
    finally:
        release.set()
    # The first claim's transaction committed: its rows are no longer locked (a claim made
    # while they still were would skip them, and take 2 of the 6 below).
    assert first_over.wait(10)
    assert [t.due_at for t in first] == [0.0, 1.0, 2.0, 3.0]
    assert {t.id for t in first} | {t.id for t in second} == ids
    assert not {t.id for t in first} & {t.id for t in second}
    # Once claimed under a lease, nobody else takes them before it runs out.
    with pg_store.transaction() as session:
        assert session.claim_tasks(150.0, "three", 200.0) == []
        assert len(session.claim_tasks(161.0, "three", 200.0)) == 6


@pytest.mark.postgres
def test_a_transaction_inside_another_is_refused(pg_store: PostgresStore) -> None:
    with pg_store.transaction(), pytest.raises(StoreError, match="inside another"):  # noqa: SIM117
        with pg_store.transaction():
            pass


@pytest.mark.postgres
def test_an_error_rolls_the_whole_transaction_back(pg_store: PostgresStore) -> None:
    with pytest.raises(RuntimeError), pg_store.transaction() as session:
        session.save_parcel(parcel("P1"))
        session.open_alarm(AlarmRecord("L0001", "door_forced", 10.0))
        raise RuntimeError("a rule failed")
    with pg_store.transaction() as session:
        assert session.get_parcel("P1") is None
        assert session.list_alarms() == []


# ---------------------------------------------------------- the read path, both stores


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CentralStore, str]]:
    if request.param == "sqlite":
        config = StoreConfig(path=tmp_path / "c.sqlite")
    else:
        config = StoreConfig(url=request.getfixturevalue("pg_url"))
    store = open_store(config)
    yield store, store_location(config)
    store.close()
    close_reader_pools()


def test_a_read_never_waits_for_an_open_write_transaction(
    any_store: tuple[CentralStore, str],
) -> None:
    store, location = any_store
    with store.transaction() as session:
        session.save_parcel(parcel("P1"))

    def write(session: StoreSession) -> None:
        session.lock_site("L0001")
        session.get_parcel("P1")  # its row locked, on PostgreSQL
        session.save_parcel(parcel("P1", "assigned"))
        session.save_parcel(parcel("P2"))

    done, release, over = in_thread(store, write)
    assert done.wait(10)
    try:
        started = time.monotonic()
        with open_reader(location) as reader:
            states = reader.parcel_states()
            record = reader.view.get_parcel("P1")
        took = time.monotonic() - started
    finally:
        release.set()
    assert over.wait(10)
    assert took < NO_WAIT_S, f"a read waited {took:.2f}s behind a writer"
    # It read the last commit, not the writer's open transaction.
    assert states == {"announced": 1}
    assert record is not None and record.state == "announced"
    with open_reader(location) as reader:
        assert reader.parcel_states() == {"announced": 1, "assigned": 1}


@pytest.mark.postgres
def test_a_postgresql_reader_reads_one_snapshot_per_block_and_cannot_write(
    pg_store: PostgresStore, pg_url: str
) -> None:
    with pg_store.transaction() as session:
        session.save_parcel(parcel("P1"))
        session.open_alarm(AlarmRecord("L0001", "door_forced", 10.0, ref="A"))
        session.open_alarm(AlarmRecord("L0001", "door_forced", 11.0, ref="B"))
        session.clear_alarms("L0001", "door_forced", "A", 20.0)
    reader = open_reader(pg_url)
    assert isinstance(reader, PostgresReader)
    try:
        assert reader.parcel_count() == 1
        with pg_store.transaction() as session:
            session.save_parcel(parcel("P2"))
        assert reader.parcel_count() == 2  # a call outside a block: the newest commit
    finally:
        reader.close()
    with open_reader(pg_url) as reader:
        assert reader.alarm_counts() == {"door_forced": (2, 1)}
        assert reader.repeated_steps() == 0
        with pg_store.transaction() as session:
            session.save_parcel(parcel("P3"))
        assert reader.parcel_count() == 2  # the block's snapshot
        assert reader.view.get_parcel("P3") is None
        writes: Any = reader.view  # a StoreView has no writes; the connection none either
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            writes.save_parcel(parcel("P4"))
    with open_reader(pg_url) as reader:
        assert reader.parcel_count() == 3
