"""Alarms raised for an operator: open, acknowledged, cleared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from central.store.queries.base import Queries
from central.store.records import AlarmRecord


class AlarmQueries(Queries):
    """Alarms, one open per (site, kind, ref)."""

    def open_alarm(self, record: AlarmRecord) -> bool:
        """Raise an alarm; False if the same one (site, kind, ref) is already open."""
        # DO NOTHING, not a caught unique violation: on PostgreSQL that would abort the
        # whole transaction. No row back means the same alarm is still open.
        row = self._db.execute(
            """INSERT INTO alarms (site, kind, ref, opened_at, detail, source)
                VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id""",
            (record.site, record.kind, record.ref, record.opened_at, record.detail, record.source),
        ).fetchone()
        return row is not None

    def clear_alarms(self, site: str, kind: str, ref: str | None, at: float) -> None:
        """Close open alarms of a kind at a site (one ref, or all refs when ref is None)."""
        if ref is None:
            self._db.execute(
                """UPDATE alarms SET cleared_at = ? WHERE site = ? AND kind = ?
                    AND cleared_at IS NULL""",
                (at, site, kind),
            )
        else:
            self._db.execute(
                """UPDATE alarms SET cleared_at = ? WHERE site = ? AND kind = ? AND ref = ?
                    AND cleared_at IS NULL""",
                (at, site, kind, ref),
            )

    def list_alarms(self, include_cleared: bool = False) -> list[AlarmRecord]:
        query = f"SELECT {_ALARM_COLUMNS} FROM alarms"  # noqa: S608 - column names only
        if not include_cleared:
            query += " WHERE cleared_at IS NULL"
        return [_alarm(r) for r in self._db.execute(query + " ORDER BY opened_at, id")]

    def get_alarm(self, alarm_id: int) -> AlarmRecord | None:
        row = self._db.execute(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE id = ?",  # noqa: S608
            (alarm_id,),
        ).fetchone()
        return _alarm(row) if row else None

    def ack_alarm(self, alarm_id: int, by: str, at: float, clear: bool) -> bool:
        """Acknowledge an alarm (and close it, if `clear`); False if unknown or acked."""
        # Two statements rather than a parameter as CASE's condition: PostgreSQL wants a
        # boolean there, and flags are passed as 0/1 integers to suit both engines.
        if clear:
            cursor = self._db.execute(
                """UPDATE alarms SET acked_at = ?, acked_by = ?,
                    cleared_at = coalesce(cleared_at, ?) WHERE id = ? AND acked_at IS NULL""",
                (at, by, at, alarm_id),
            )
        else:
            cursor = self._db.execute(
                """UPDATE alarms SET acked_at = ?, acked_by = ?
                    WHERE id = ? AND acked_at IS NULL""",
                (at, by, alarm_id),
            )
        return cursor.rowcount > 0


_ALARM_COLUMNS = "id, site, kind, ref, opened_at, detail, source, cleared_at, acked_at, acked_by"


def _alarm(row: Sequence[Any]) -> AlarmRecord:
    return AlarmRecord(
        id=row[0],
        site=row[1],
        kind=row[2],
        ref=row[3],
        opened_at=row[4],
        detail=row[5],
        source=row[6],
        cleared_at=row[7],
        acked_at=row[8],
        acked_by=row[9],
    )
