"""The embedded store: one SQLite file in WAL mode, safe for several threads and processes.

Every write transaction starts with BEGIN IMMEDIATE, so writers are serialised by SQLite's
own lock across threads and processes: a read-check-write inside one transaction (the next
event of a site, the last free slot) cannot race another writer. Commits are fsynced
(synchronous=FULL) because a committed event is acknowledged to the broker right after, and
the broker then forgets it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from central.errors import StoreError
from central.store.base import CentralStore
from central.store.queries.session import SqlSession
from central.store.sqlite.migrations import LATEST_VERSION, MIGRATIONS

# A writer waits this long for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 30_000


class SqliteStore:
    """A SQLite file shared by threads (one connection each) and processes."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error, StoreError)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._turns = WriterTurns()
        self._migrate(self._connection())

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # Acknowledged to the broker right after commit: the commit must survive power loss.
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > LATEST_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {version}, newer than this build's "
                    f"{LATEST_VERSION}: upgrade lockernet central"
                )
            for migration in MIGRATIONS:
                if migration.version > version:
                    for statement in migration.statements:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {migration.version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[SqlSession]:
        """One atomic unit of work: committed on normal exit, rolled back on any error."""
        conn = self._connection()
        with self._turns:
            conn.execute("BEGIN IMMEDIATE")
            session = SqlSession(conn)
            try:
                yield session
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        session.committed()

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class WriterTurns:
    """This process's writers take the write lock in the order they asked for it.

    SQLite's lock is not fair: a waiting writer sleeps and retries (up to 100 ms apart), and
    a thread that commits and begins again at once wins every time. Placing a large wave in
    chunks kept the ingest thread out for its whole 30 s busy timeout. Writers in other
    processes still meet SQLite's busy timeout.
    """

    def __init__(self, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()
        self._holder: int | None = None
        self._timeout_s = timeout_s

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._holder == me:
                raise StoreError("a store transaction cannot begin inside another")
            turn = object()
            self._waiting.append(turn)
            try:
                ready = self._changed.wait_for(
                    lambda: self._holder is None and self._waiting[0] is turn, self._timeout_s
                )
            except BaseException:
                ready = False  # interrupted: give the turn up below, then re-raise
                raise
            finally:
                if not ready:
                    self._waiting.remove(turn)
                    self._changed.notify_all()
            if not ready:
                # As SQLite's own busy timeout would say it: the callers already retry this.
                raise sqlite3.OperationalError(
                    f"database is locked: no turn to write within {self._timeout_s:.0f}s"
                )
            self._waiting.popleft()
            self._holder = me

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._holder = None
            self._changed.notify_all()


def _conforms(store: SqliteStore) -> CentralStore:
    """Never called: makes mypy prove SqliteStore fills the CentralStore interface."""
    return store
