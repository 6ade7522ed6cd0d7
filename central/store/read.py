"""Reading central's store without writing it: the operator's commands and the simulator.

A reader holds its own read-only connection and reads snapshots that never wait for a
writer (nor hold one up), so a report or a live view cannot queue behind ingest:

- SQLite (`SqliteReader`): a `mode=ro` connection to the file in WAL mode, where a reader
  sees the last commit before its snapshot began;
- PostgreSQL (`central.store.postgres.reader.PostgresReader`): a connection of its own,
  each snapshot a REPEATABLE READ READ ONLY transaction (MVCC).

Each call reads one fresh snapshot; inside `with reader:` every call reads the same one,
taken when the block begins, and the connection is given back at its end:

    with open_reader(location) as reader:      # central.store.open
        states = reader.parcel_states()
        alarms = reader.alarm_counts()

`reader.view` offers everything a session reads (`StoreView`), for read models written
against the store's interface (the fleet table, a parcel's timeline).

Keep a `with` block short: while a snapshot is open, SQLite cannot fold the log it still
needs back into the database file, and PostgreSQL cannot vacuum what the snapshot may see.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg

from central.errors import StoreError
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.store.base import StoreView
from central.store.queries.base import SqlConnection
from central.store.queries.session import SqlSession
from central.store.sqlite.migrations import LATEST_VERSION

# Only WAL recovery or a checkpoint resetting the log can make a WAL reader wait, and only
# for moments; a writer's transaction never does.
READ_BUSY_TIMEOUT_S = 5.0

# The steps that change where a parcel is: each happens once in a parcel's life.
EFFECT_STEPS = (ParcelStep.DEPOSIT, ParcelStep.PICK_UP, ParcelStep.REMOVE)

_LIFECYCLE_ORDER = {state.value: i for i, state in enumerate(ParcelState)}


class StoreReader:
    """A read-only snapshot of central's store: one per call, or one per `with` block.

    The reports are written once here, in SQL both engines run; a store's reader says how
    a snapshot begins and ends (`_begin`, `_end`) and how its connection is let go."""

    # What a read can raise for the store's own trouble (a missing or foreign store, the
    # disk, the network): a caller that polls shows nothing this time and tries again.
    errors: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error, StoreError)

    def __init__(self, conn: SqlConnection, location: str) -> None:
        self._conn = conn
        self.location = location
        self._session = SqlSession(conn)
        self._held = False

    def _begin(self) -> None:
        """Begin a snapshot, taken at once (not at the first read)."""
        raise NotImplementedError

    def _end(self) -> None:
        """End the snapshot (nothing to commit: a reader never writes)."""
        raise NotImplementedError

    def close(self) -> None:
        """End any snapshot and let the connection go."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        # The whole block reads one moment: the snapshot is taken now.
        self._begin()
        self._held = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def view(self) -> StoreView:
        """Everything a session reads, over this reader's snapshot."""
        return self._session

    @contextmanager
    def _snapshot(self) -> Iterator[SqlConnection]:
        """The `with` block's snapshot, or a fresh one for this call's queries."""
        if self._held:
            yield self._conn
            return
        self._begin()
        try:
            yield self._conn
        finally:
            self._end()

    # ----------------------------------------------------------------------- parcels

    def parcel_states(self) -> dict[str, int]:
        """Parcels by state value, in the lifecycle's order (`ParcelState`); a parcel with no
        state yet counts under "unknown", after the known states."""
        with self._snapshot() as db:
            rows = db.execute("SELECT state, count(*) FROM parcels GROUP BY state").fetchall()
        counts = {str(state or "unknown"): int(n) for state, n in rows}
        ordered = sorted(counts, key=lambda s: _LIFECYCLE_ORDER.get(s, len(_LIFECYCLE_ORDER)))
        return {state: counts[state] for state in ordered}

    def parcel_count(self, delivery_mode: str | None = None, state: str | None = None) -> int:
        """Parcels central knows (of one delivery mode: "locker", "counter", "home"; in one
        state)."""
        query = "SELECT count(*) FROM parcels WHERE 1 = 1"
        params: list[str] = []
        if delivery_mode is not None:
            query += " AND delivery_mode = ?"
            params.append(delivery_mode)
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        with self._snapshot() as db:
            return int(db.execute(query, params).fetchone()[0])

    def delivery_modes(self, state: str | None = None) -> dict[str, int]:
        """Parcels (in one state) by the delivery mode placement chose; parcels not placed yet
        have none and are not counted."""
        query = "SELECT delivery_mode, count(*) FROM parcels WHERE delivery_mode IS NOT NULL"
        params: tuple[str, ...] = ()
        if state is not None:
            query += " AND state = ?"
            params = (state,)
        with self._snapshot() as db:
            rows = db.execute(query + " GROUP BY delivery_mode", params).fetchall()
        return {str(mode): int(n) for mode, n in rows}

    def deposit_to_pickup_s(self) -> list[float]:
        """For each parcel picked up, seconds from its deposit to its pick-up (site times)."""
        with self._snapshot() as db:
            rows = db.execute(
                """SELECT p.at - d.at FROM parcel_steps d JOIN parcel_steps p
                    ON p.label = d.label AND p.step = ? WHERE d.step = ?""",
                (ParcelStep.PICK_UP.value, ParcelStep.DEPOSIT.value),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def repeated_steps(self, steps: Iterable[str] = EFFECT_STEPS) -> int:
        """How many (parcel, step) pairs of `steps` central recorded more than once: an effect
        counted twice (a parcel collected twice, say)."""
        wanted = [str(s) for s in steps]
        marks = ",".join("?" * len(wanted))
        with self._snapshot() as db:
            row = db.execute(
                f"""SELECT count(*) FROM (SELECT 1 FROM parcel_steps WHERE step IN ({marks})
                    GROUP BY label, step HAVING count(*) > 1) AS repeated""",  # noqa: S608 - placeholders only
                wanted,
            ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------------ alarms

    def alarm_counts(self) -> dict[str, tuple[int, int]]:
        """Alarms by kind: (raised ever, still open)."""
        with self._snapshot() as db:
            rows = db.execute(
                """SELECT kind, count(*), sum(CASE WHEN cleared_at IS NULL THEN 1 ELSE 0 END)
                    FROM alarms GROUP BY kind"""
            ).fetchall()
        return {str(kind): (int(raised), int(still_open)) for kind, raised, still_open in rows}

    # ------------------------------------------------------------------------ events

    def event_ids(self, site: str | None = None) -> dict[str, set[str]]:
        """The id of every event central has stored (of one site), by site; a site with no
        event stored is absent."""
        query = "SELECT site, event_id FROM events"
        params: tuple[str, ...] = ()
        if site is not None:
            query += " WHERE site = ?"
            params = (site,)
        found: defaultdict[str, set[str]] = defaultdict(set)
        with self._snapshot() as db:
            for each, event_id in db.execute(query, params):
                found[str(each)].add(str(event_id))
        return dict(found)


class SqliteReader(StoreReader):
    """The reader of a SQLite store: a `mode=ro` connection to the WAL file."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        super().__init__(conn, str(path))
        self._db = conn
        self.path = path

    @classmethod
    def open(cls, location: Path | str) -> SqliteReader:
        """Open central's SQLite store at `location` (a path) for reading.

        Raises StoreError if there is no store at `location`, if it is not in WAL mode (a
        reader would then wait for writers), or if its schema version is not this build's.
        """
        path = Path(location)
        if not path.is_file():
            raise StoreError(f"no central store at {path}: has lockernet central run there?")
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=READ_BUSY_TIMEOUT_S,
        )
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except BaseException:
            conn.close()
            raise
        problem = None
        if str(mode).lower() != "wal":
            problem = f"is in {mode} mode, not WAL: open it once with lockernet central"
        elif version != LATEST_VERSION:
            problem = (
                f"has schema version {version}, this build reads {LATEST_VERSION}: run the "
                "lockernet central that matches it"
            )
        if problem is not None:
            conn.close()
            raise StoreError(f"central store {path} {problem}")
        return cls(conn, path)

    def _begin(self) -> None:
        # SQLite takes the snapshot at the first read of a transaction: read at once.
        self._db.execute("BEGIN")
        self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def _end(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        """End the snapshot (nothing to commit: the connection cannot write) and close."""
        self._held = False
        self._end()
        self._db.close()
