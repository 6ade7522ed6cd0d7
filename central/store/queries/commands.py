"""Signed commands sent to sites, and the reply each got."""

from __future__ import annotations

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
        row = self._db.execute("SELECT * FROM commands WHERE id = ?", (command_id,)).fetchone()
        if row is None:
            return None
        return CommandRecord(
            row[0], row[1], row[2], row[3], row[4], row[5], optional_bool(row[6]), *row[7:]
        )

    def commands_to(self, site: str) -> list[CommandRecord]:
        rows = self._db.execute(
            "SELECT id FROM commands WHERE site = ? ORDER BY issued_at", (site,)
        )
        found = [self.get_command(r[0]) for r in rows.fetchall()]
        return [c for c in found if c is not None]
