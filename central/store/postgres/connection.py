"""psycopg's connection seen through `SqlConnection`: the queries' `?` placeholders become
psycopg's `%s`, and a literal `%` is doubled so psycopg does not take it for one.

Rows come back as tuples (psycopg's default row factory), as sqlite3 gives them. psycopg
prepares a statement on the server after it has run a few times on a connection, so the
translated text must be the same string every time: translations are cached per SQL string.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg

# Distinct SQL strings central runs: a few hundred (IN lists are built per chunk length).
TRANSLATION_CACHE_SIZE = 4096


@lru_cache(maxsize=TRANSLATION_CACHE_SIZE)
def translate(sql: str) -> str:
    """`sql` with qmark placeholders rewritten for psycopg: `?` -> `%s`, `%` -> `%%`.

    Inside a quoted literal ('...') or identifier ("...") a `?` is text and stays as it is
    (its `%` is still doubled: psycopg scans the whole string). Raises nothing.
    """
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


class PgCursor:
    """A psycopg cursor as `SqlCursor`: rows as tuples, and no `lastrowid`.

    PostgreSQL reports no row id for an INSERT: the queries ask with `RETURNING id`, and
    reading `lastrowid` raises rather than hand back a None to be stored as an id.
    In pipeline mode a statement's row count is known only once the pipeline is synced:
    asking for it syncs (fetching rows syncs by itself).
    """

    def __init__(
        self, cursor: psycopg.Cursor[Any], pipeline: psycopg.Pipeline | None = None
    ) -> None:
        self._cursor = cursor
        self._pipeline = pipeline
        self._synced = pipeline is None

    def _results(self) -> None:
        # A read waits for its rows anyway: end the pipeline's stretch with a Sync instead of
        # the flush psycopg would send, at no extra round trip. Until a Sync the server
        # counts the session as running a statement ("active"), and
        # idle_in_transaction_session_timeout never ends the session of a process frozen
        # while it holds site locks (central.store.postgres.store.IDLE_IN_TRANSACTION_S).
        if not self._synced and self._pipeline is not None:
            self._synced = True
            self._pipeline.sync()

    @property
    def rowcount(self) -> int:
        if self._cursor.rowcount < 0 and self._pipeline is not None:
            self._pipeline.sync()
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        raise NotImplementedError("PostgreSQL has no lastrowid: add RETURNING id to the INSERT")

    def fetchone(self) -> Any:
        self._results()
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        self._results()
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        self._results()
        return iter(self._cursor)


class PgConnection:
    """One psycopg connection, inside a transaction its store opened, as `SqlConnection`.

    With a `pipeline` (psycopg's pipeline mode) a statement whose result nobody reads is sent
    without waiting for the server's answer: a transaction's writes cost one round trip
    together instead of one each. The server still runs them in order, so a read sees every
    write sent before it; an error surfaces at the next read or `sync()` (a savepoint syncs
    before it is released, so the error is still inside it).
    """

    def __init__(
        self, conn: psycopg.Connection[Any], pipeline: psycopg.Pipeline | None = None
    ) -> None:
        self.raw = conn
        self._pipeline = pipeline

    def sync(self) -> None:
        """Wait for every statement sent so far; raises the first one's error (psycopg.Error)."""
        if self._pipeline is not None:
            self._pipeline.sync()

    def settle(self) -> None:
        """After an error: end the pipeline's aborted stretch (the server skips everything
        up to the next sync point), so the next statement (a ROLLBACK TO) runs. The error
        itself is already being raised by the caller; a repeat of it here is not news."""
        if self._pipeline is not None:
            with contextlib.suppress(psycopg.Error):
                self._pipeline.sync()

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PgCursor:
        """Run one statement; psycopg errors (psycopg.Error) pass through."""
        # Always hand psycopg a parameter sequence, even empty: without one it sends the text
        # as is, and a doubled `%%` would reach the server doubled.
        return PgCursor(self.raw.execute(translate(sql), tuple(parameters)), self._pipeline)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> PgCursor:
        """Run one statement per parameter row (psycopg pipelines them: one round trip)."""
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), [tuple(p) for p in parameters])
        return PgCursor(cursor, self._pipeline)
