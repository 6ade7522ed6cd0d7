"""Signed commands sent to sites, and the reply each got."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from central.store.queries.base import Queries, optional_bool
from central.store.records import CommandRecord


class CommandQueries(Queries):
    """Commands and their first reply."""

    def add_command(self, record: CommandRecord) -> None:
        self._db.execute(
            """INSERT INTO commands (id, site, type, issued_at, expires_at, body)
                VALUES (?,?,?,?,?,?)""",
            (
                record.id,
                record.site,
                record.type,
                record.issued_at,
                record.expires_at,
                record.body,
            ),
        )

    def record_reply(
        self, command_id: str, ok: bool, reason: str | None, at: float, detail: str | None
    ) -> bool:
        """Store the first reply to a command; False if the command is unknown or answered."""
        cursor = self._db.execute(
            """UPDATE commands SET reply_ok = ?, reply_reason = ?, reply_at = ?,
                reply_detail = ? WHERE id = ? AND reply_at IS NULL""",
            (int(ok), reason, at, detail, command_id),
        )
        return cursor.rowcount > 0

    def get_command(self, command_id: str) -> CommandRecord | None:
        row = self._db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ?",  # noqa: S608
            (command_id,),
        ).fetchone()
        return _command(row) if row else None

    def commands_to(self, site: str) -> list[CommandRecord]:
        rows = self._db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE site = ? ORDER BY issued_at, id",  # noqa: S608
            (site,),
        )
        return [_command(r) for r in rows]

    def command_accepted(self, site: str, body: str) -> bool:
        # One indexed row, where a scan of every command the site ever had ran once per
        # must-answer task (a revocation resent hourly read the whole history each time).
        row = self._db.execute(
            "SELECT 1 FROM commands WHERE site = ? AND body = ? AND reply_ok = ? LIMIT 1",
            (site, body, 1),
        ).fetchone()
        return row is not None


_COMMAND_COLUMNS = (
    "id, site, type, issued_at, expires_at, body, reply_ok, reply_reason, reply_at, reply_detail"
)


def _command(row: Sequence[Any]) -> CommandRecord:
    return CommandRecord(
        id=row[0],
        site=row[1],
        type=row[2],
        issued_at=row[3],
        expires_at=row[4],
        body=row[5],
        reply_ok=optional_bool(row[6]),
        reply_reason=row[7],
        reply_at=row[8],
        reply_detail=row[9],
    )
