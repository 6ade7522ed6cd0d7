"""A site's event streams and the events received on them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from central.store.queries.base import Queries
from central.store.records import (
    StoredEvent,
    StreamCursor,
)


class StreamQueries(Queries):
    """Streams (one per epoch or rewind of a site) and their events."""

    def stream(self, site: str, epoch: str | None = None) -> StreamCursor:
        """The site's current stream (epoch None), or the newest stream of `epoch`; an unsaved
        cursor (id None) if there is none."""
        if epoch is None:
            row = self._db.execute(
                f"SELECT {_STREAM_COLUMNS} FROM streams WHERE site = ? AND closed_at IS NULL",  # noqa: S608
                (site,),
            ).fetchone()
            return _stream(row) if row else StreamCursor(site)
        row = self._db.execute(
            f"""SELECT {_STREAM_COLUMNS} FROM streams WHERE site = ? AND epoch = ?
                ORDER BY id DESC LIMIT 1""",  # noqa: S608
            (site, epoch),
        ).fetchone()
        return _stream(row) if row else StreamCursor(site, epoch=epoch)

    def save_stream(self, cursor: StreamCursor) -> StreamCursor:
        """Insert (id None) or update a stream; returns it with its id. A site has one current
        stream: close the old one (closed_at) before a new one is inserted."""
        values = (
            cursor.site,
            cursor.epoch,
            cursor.base_seq,
            cursor.started_at,
            cursor.closed_at,
            cursor.cause,
            int(cursor.reconciled),
            cursor.applied_seq,
            cursor.max_received_seq,
            cursor.gap_since,
            cursor.resend_requested_at,
            cursor.resend_count,
            cursor.deposits,
            cursor.pickups,
            cursor.removals,
            cursor.duplicates,
            cursor.lost,
        )
        if cursor.id is None:
            row = self._db.execute(
                f"""INSERT INTO streams ({_STREAM_FIELDS})
                    VALUES ({",".join("?" * len(values))}) RETURNING id""",  # noqa: S608
                values,
            ).fetchone()
            return dataclasses.replace(cursor, id=int(row[0]))
        assignments = ", ".join(f"{name} = ?" for name in _STREAM_FIELDS.split(", "))
        self._db.execute(
            f"UPDATE streams SET {assignments} WHERE id = ?",  # noqa: S608 - column names only
            (*values, cursor.id),
        )
        return cursor

    def list_streams(self) -> list[StreamCursor]:
        """Every stream of every site, by site and then oldest first (the current one last)."""
        rows = self._db.execute(f"SELECT {_STREAM_COLUMNS} FROM streams ORDER BY site, id")  # noqa: S608
        return [_stream(r) for r in rows]

    def streams_waiting_since(self, before: float) -> list[StreamCursor]:
        """Streams that have waited for a missing event since `before` or longer."""
        rows = self._db.execute(
            f"""SELECT {_STREAM_COLUMNS} FROM streams WHERE gap_since IS NOT NULL
                AND gap_since <= ? ORDER BY site, id""",  # noqa: S608
            (before,),
        )
        return [_stream(r) for r in rows]

    def add_events(self, events: Sequence[StoredEvent]) -> None:
        """Store received events; one already stored under its (stream, seq) is left as is."""
        self._db.executemany(
            f"""INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)
                ON CONFLICT DO NOTHING""",  # noqa: S608
            [
                (
                    e.site,
                    e.seq,
                    e.event_id,
                    e.type,
                    e.at,
                    e.payload,
                    e.received_at,
                    e.applied_at,
                    e.stream,
                )
                for e in events
            ],
        )

    def waiting_events(self, stream: int, after_seq: int, limit: int = 10_000) -> list[StoredEvent]:
        """Received but not yet applied events of a stream, in sequence order."""
        rows = self._db.execute(
            f"""SELECT {_EVENT_COLUMNS} FROM events WHERE stream = ? AND seq > ?
                AND applied_at IS NULL ORDER BY seq LIMIT ?""",  # noqa: S608
            (stream, after_seq, limit),
        )
        return [_event(r) for r in rows]

    def mark_applied(self, stream: int, seqs: Iterable[int], at: float) -> None:
        self._db.executemany(
            "UPDATE events SET applied_at = ? WHERE stream = ? AND seq = ?",
            [(at, stream, seq) for seq in seqs],
        )

    def get_event(self, stream: int, seq: int) -> StoredEvent | None:
        row = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream = ? AND seq = ?",  # noqa: S608
            (stream, seq),
        ).fetchone()
        return _event(row) if row else None

    def known_event_ids(self, site: str, ids: Iterable[str]) -> set[str]:
        """Those of `ids` central has stored for the site, in any of its streams."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        # SQLite's default limit on host parameters is 999 (32766 since 3.32): chunks stay under.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._db.execute(
                f"""SELECT event_id FROM events WHERE site = ?
                    AND event_id IN ({",".join("?" * len(chunk))})""",  # noqa: S608 - placeholders only
                (site, *chunk),
            )
            found.update(r[0] for r in rows)
        return found


_STREAM_FIELDS = (
    "site, epoch, base_seq, started_at, closed_at, cause, reconciled, applied_seq, "
    "max_received_seq, gap_since, resend_requested_at, resend_count, deposits, pickups, "
    "removals, duplicates, lost"
)
_STREAM_COLUMNS = "id, " + _STREAM_FIELDS
_EVENT_COLUMNS = "site, seq, event_id, type, at, payload, received_at, applied_at, stream"


def _stream(row: Sequence[Any]) -> StreamCursor:
    return StreamCursor(
        id=row[0],
        site=row[1],
        epoch=row[2],
        base_seq=row[3],
        started_at=row[4],
        closed_at=row[5],
        cause=row[6],
        reconciled=bool(row[7]),
        applied_seq=row[8],
        max_received_seq=row[9],
        gap_since=row[10],
        resend_requested_at=row[11],
        resend_count=row[12],
        deposits=row[13],
        pickups=row[14],
        removals=row[15],
        duplicates=row[16],
        lost=row[17],
    )


def _event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(*row)
