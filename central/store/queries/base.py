"""What every aggregate's queries share: the session's connection, and column helpers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class SqlCursor(Protocol):
    """The part of a DB-API cursor the queries use (sqlite3's and psycopg's both have it)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """A connection inside one transaction, taking `?` placeholders (PEP 249 qmark style).

    sqlite3.Connection is one as it is; a PostgreSQL store wraps psycopg's connection to
    translate the placeholders (central.store.postgres.connection)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> SqlCursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Queries:
    """Base of the aggregates' query classes: all run on the one connection of a transaction."""

    def __init__(self, conn: SqlConnection) -> None:
        self._db = conn
        # Sites read in this transaction (None: not stored). Ingest reads a site's record
        # for nearly every parcel event of it (is it a counter, what its shelf holds): read
        # once per transaction. Kept current by save_site, emptied when a savepoint rolls
        # back; a store where another writer can change a site mid-transaction drops a
        # site's entry when it takes the site's lock.
        self._site_cache: dict[str, Any] = {}


def optional_bool(value: Any) -> bool | None:
    """An INTEGER column holding a flag that may be unknown (NULL)."""
    return None if value is None else bool(value)


def upsert(table: str, columns: str, key: tuple[str, ...]) -> str:
    """An INSERT of `columns` (comma-separated names) that updates every other column of the
    row already stored under `key`: what SQLite's INSERT OR REPLACE did, in the ON CONFLICT
    form both SQLite and PostgreSQL run."""
    names = [name.strip() for name in columns.split(",")]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in key)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({','.join('?' * len(names))}) "  # noqa: S608 - names only
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
