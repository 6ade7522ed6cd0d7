"""psycopg's connection seen through `SqlConnection`: the queries' `?` placeholders become
psycopg's `%s`, and a literal `%` is doubled so psycopg does not take it for one.

Rows come back as tuples (psycopg's default row factory), as sqlite3 gives them. psycopg
prepares a statement on the server after it has run a few times on a connection, so the
translated text must be the same string every time: translations are cached per SQL string.
"""

from __future__ import annotations

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
    """

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        raise NotImplementedError("PostgreSQL has no lastrowid: add RETURNING id to the INSERT")

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class PgConnection:
    """One psycopg connection, inside a transaction its store opened, as `SqlConnection`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PgCursor:
        """Run one statement; psycopg errors (psycopg.Error) pass through."""
        # Always hand psycopg a parameter sequence, even empty: without one it sends the text
        # as is, and a doubled `%%` would reach the server doubled.
        return PgCursor(self.raw.execute(translate(sql), tuple(parameters)))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> PgCursor:
        """Run one statement per parameter row (psycopg pipelines them: one round trip)."""
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), [tuple(p) for p in parameters])
        return PgCursor(cursor)
