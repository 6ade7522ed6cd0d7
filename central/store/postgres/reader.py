"""The read path on PostgreSQL: snapshots that never wait for a writer.

Each snapshot is a REPEATABLE READ READ ONLY transaction: it sees what was committed when
it began and nothing after, and PostgreSQL's MVCC serves it old row versions instead of
waiting for a writer's locks (advisory or row locks, an open ingest transaction). Readers of
one url share a small pool, so a report or a live view polled often does not connect each
time; the pools are closed when the process exits.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from central.errors import StoreError
from central.store.postgres.connection import PgConnection
from central.store.postgres.migrations import LATEST_VERSION
from central.store.postgres.store import RECONNECT_GIVE_UP_S
from central.store.postgres.url import redact, scrub
from central.store.read import StoreReader

# Readers open at once in one process (a live view, a verdict, an operator's command).
READER_POOL_MAX = 4
READER_TIMEOUT_S = 10.0

_pools: dict[str, ConnectionPool[psycopg.Connection[Any]]] = {}
_pools_lock = threading.Lock()


def _pool(url: str) -> ConnectionPool[psycopg.Connection[Any]]:
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            # Fail fast, with libpq's own reason (refused, unknown host, auth): a pool would
            # keep retrying in the background until its timeout and then say only that.
            psycopg.connect(url, connect_timeout=int(READER_TIMEOUT_S)).close()
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=READER_POOL_MAX,
                kwargs={"autocommit": True, "connect_timeout": int(READER_TIMEOUT_S)},
                check=ConnectionPool.check_connection,
                timeout=READER_TIMEOUT_S,
                # As the store's pool: a reader opened after an outage connects at once,
                # not at the next step of a backoff that grew all through the outage.
                reconnect_timeout=RECONNECT_GIVE_UP_S,
                name="lockernet-reader",
                open=True,
            )
            _pools[url] = pool
        return pool


@atexit.register
def close_reader_pools() -> None:
    """Close every reader pool of this process (at exit; tests call it to drop a database)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


class PostgresReader(StoreReader):
    """A reader of a PostgreSQL store: a pooled connection, REPEATABLE READ snapshots."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], url: str) -> None:
        self._pool = pool
        self._raw: psycopg.Connection[Any] | None = pool.getconn()
        super().__init__(PgConnection(self._raw), redact(url))

    @classmethod
    def open(cls, location: Path | str) -> PostgresReader:
        """Open central's PostgreSQL store at `location` (a postgresql:// url) for reading.

        Raises StoreError if the server cannot be reached, if there is no central store in
        that database, or if its schema version is not this build's; the message names the
        url without its password."""
        url = str(location)
        shown = redact(url)
        try:
            reader = cls(_pool(url), url)
        except psycopg.Error as exc:
            raise StoreError(f"cannot read central store {shown}: {scrub(str(exc), url)}") from None
        try:
            version = reader._schema_version()
        except BaseException:
            reader.close()
            raise
        if version != LATEST_VERSION:
            reader.close()
            if version == 0:
                raise StoreError(f"no central store at {shown}: has lockernet central run there?")
            raise StoreError(
                f"central store {shown} has schema version {version}, this build reads "
                f"{LATEST_VERSION}: run the lockernet central that matches it"
            )
        return reader

    def _schema_version(self) -> int:
        row = self._conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not row[0]:
            return 0
        found = self._conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(found.fetchone()[0])

    def _begin(self) -> None:
        self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # The snapshot is taken at the first query, not at BEGIN: take it now.
        self._conn.execute("SELECT 1").fetchone()

    def _end(self) -> None:
        if self._raw is not None and self._raw.info.transaction_status != TransactionStatus.IDLE:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """End any snapshot and give the connection back to the pool."""
        self._held = False
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            if not raw.closed and raw.info.transaction_status != TransactionStatus.IDLE:
                raw.execute("ROLLBACK")
        finally:
            self._pool.putconn(raw)
