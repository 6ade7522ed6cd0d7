"""Central's store on PostgreSQL: for several central processes on several machines.

A pool of connections (psycopg_pool), one per transaction running at once; each transaction
is READ COMMITTED, and what a writer reads to decide is locked first (the site's advisory
lock, a parcel's row: central.store.postgres.session). Commits are durable by PostgreSQL's
defaults (synchronous_commit on): a committed event is acknowledged to the broker right
after, and the broker then forgets it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg_pool import ConnectionPool

from central.errors import StoreError
from central.store.base import CentralStore
from central.store.postgres.connection import PgConnection
from central.store.postgres.migrations import LATEST_VERSION, MIGRATIONS
from central.store.postgres.session import PostgresSession, lock_key
from central.store.postgres.url import redact, scrub

# One transaction at a time per thread; a central process runs a handful of threads that
# write (ingest, timers, the broker session's replies).
DEFAULT_POOL_MAX = 8
# A transaction waits this long for a free connection before giving up (a caller retries).
POOL_TIMEOUT_S = 30.0
# Connecting to the server at start-up: past this, the store is called unreachable.
CONNECT_TIMEOUT_S = 10
# A pool that cannot reach the server retries with a backoff that doubles (1, 2, 4... s) for
# as long as this, then gives up, and the next transaction starts a fresh attempt at once.
# psycopg_pool's default (300 s) lets the backoff grow with the outage: after a 2-minute
# outage the next attempt came up to 2 minutes after the server was back, and central
# stood still all that while.
RECONNECT_GIVE_UP_S = 5.0
# A transaction that sends nothing for this long has its session ended by the server,
# releasing its site locks. A process frozen mid-transaction (SIGSTOP, a paused VM, a swap
# storm) keeps its TCP connection open, so without this its locks held every other
# process's ingest of those sites for as long as it stayed frozen. Central's transactions
# send a statement every few milliseconds; a minute of silence is a process not running.
IDLE_IN_TRANSACTION_S = 60.0
# Every process starting at once migrates under this advisory lock: one of them does it.
SCHEMA_LOCK_KEY = lock_key("lockernet.schema")

log = logging.getLogger(__name__)


class PostgresStore:
    """A PostgreSQL database shared by threads (a pool of connections) and processes.

    `url` is a libpq url (postgresql://user[:password]@host:port/dbname?...); a password in
    it never reaches a message or a log (`location` is the url without it). `timeout`:
    seconds a transaction waits for a connection before psycopg_pool.PoolTimeout (one of
    `errors`). `idle_in_transaction_s`: how long a transaction may send nothing before the
    server ends its session (and its locks).
    """

    # What a caller retries the whole transaction on: faults that pass. OperationalError is
    # a lost connection, a server shutting down, a deadlock detected, a serialization
    # failure, a pool that had no connection in time; IntegrityError a row another process
    # inserted first; InternalError a transaction aborted under it. Not DataError (a value
    # the column cannot hold, a NUL in a text), ProgrammingError or NotSupportedError: the
    # same data fails the same way on every retry, so ingest sets the message aside instead
    # of retrying its batch for ever while every other site's messages wait behind it.
    errors: tuple[type[Exception], ...] = (
        psycopg.OperationalError,
        psycopg.IntegrityError,
        psycopg.InternalError,
        psycopg.InterfaceError,
        StoreError,
    )

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = DEFAULT_POOL_MAX,
        timeout: float = POOL_TIMEOUT_S,
        idle_in_transaction_s: float = IDLE_IN_TRANSACTION_S,
    ) -> None:
        self.url = url
        self.location = redact(url)
        self._local = threading.local()
        self._migrate()
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            configure=partial(_configure, idle_in_transaction_s=idle_in_transaction_s),
            # A connection the server dropped while idle (a restart, a failover) is
            # replaced before a transaction gets it, not discovered by the transaction.
            check=ConnectionPool.check_connection,
            timeout=timeout,
            reconnect_timeout=RECONNECT_GIVE_UP_S,
            reconnect_failed=self._unreachable,
            name="lockernet-central",
            open=False,
        )
        self._pool.open()

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    def _unreachable(self, pool: ConnectionPool[Any]) -> None:
        # psycopg_pool logs each failed attempt with libpq's reason (host and port, never the
        # password); this says what it means for central.
        log.error(
            "central store %s unreachable for %g s; the next transaction tries again",
            self.location,
            RECONNECT_GIVE_UP_S,
        )

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            # libpq's message names host, port and user; a url it cannot parse
            # (ProgrammingError) it quotes, and the quoted part can be the password.
            raise StoreError(
                f"cannot reach central store {self.location}: {scrub(str(exc), self.url)}"
            ) from None

    def _migrate(self) -> None:
        with self._connect() as conn:
            try:
                self._migrate_on(conn)
            except psycopg.Error as exc:
                # A role that may not create tables, a schema half made by hand: the
                # operator's to fix, said in one line rather than a traceback.
                raise StoreError(
                    f"cannot migrate central store {self.location} to schema version "
                    f"{LATEST_VERSION}: {scrub(str(exc), self.url)}"
                ) from None

    def _migrate_on(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_version (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
            )
            version = _version(conn)
            if version > LATEST_VERSION:
                raise StoreError(
                    f"store {self.location} has schema version {version}, newer than this "
                    f"build's {LATEST_VERSION}: upgrade lockernet central"
                )
            for migration in MIGRATIONS:
                if migration.version > version:
                    for statement in migration.statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )

    @property
    def schema_version(self) -> int:
        """The newest migration applied to the database."""
        with self._pool.connection() as conn:
            return _version(conn)

    @contextmanager
    def transaction(self) -> Iterator[PostgresSession]:
        """One atomic unit of work (READ COMMITTED): committed on normal exit, rolled back on
        any error. Raises StoreError inside another transaction of the same thread (it would
        take a second connection and could wait on the first's locks for ever)."""
        if getattr(self._local, "active", False):
            raise StoreError("a store transaction cannot begin inside another")
        self._local.active = True
        try:
            with (
                self._pool.connection() as conn,
                conn.pipeline() as pipeline,
                conn.transaction(),
            ):
                session = PostgresSession(PgConnection(conn, pipeline))
                yield session
        finally:
            self._local.active = False
        session.committed()

    def close(self) -> None:
        """Close every connection of the pool (a transaction still running keeps its own
        until it ends)."""
        self._pool.close()


def _configure(conn: psycopg.Connection[Any], *, idle_in_transaction_s: float) -> None:
    # Explicit, not the server's default_transaction_isolation: the session's locks are
    # designed for READ COMMITTED (a SERIALIZABLE server default would add retries).
    conn.isolation_level = IsolationLevel.READ_COMMITTED
    # A session setting, not a url option: a url's own ?options= stays as the operator set it.
    conn.execute(
        "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
        (f"{round(idle_in_transaction_s * 1000)}ms",),
    )


def _version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _conforms(store: PostgresStore) -> CentralStore:
    """Never called: makes mypy prove PostgresStore fills the CentralStore interface."""
    return store
