"""Capacity held for a parcel at a site (a slot, or a shelf place)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from central.errors import StoreConflict
from central.store.queries.base import Queries
from central.store.records import ReservationRecord, ReservationStatus


class ReservationQueries(Queries):
    """Reservations: held, fulfilled, lapsed or cancelled."""

    def add_reservation(self, record: ReservationRecord) -> ReservationRecord:
        """Hold capacity. StoreConflict if the slot or the parcel already holds one."""
        # DO NOTHING, not a caught unique violation: on PostgreSQL that would abort the
        # whole transaction. No row back means a held reservation already has the slot or
        # the parcel (the partial unique indexes of the schema).
        row = self._db.execute(
            """INSERT INTO reservations (label, site, slot, size, created_at, until,
                status, command_id) VALUES (?,?,?,?,?,?,?,?)
                ON CONFLICT DO NOTHING RETURNING id""",
            (
                record.label,
                record.site,
                record.slot,
                record.size,
                record.created_at,
                record.until,
                record.status,
                record.command_id,
            ),
        ).fetchone()
        if row is None:
            raise StoreConflict(
                f"cannot reserve {record.site}/{record.slot or 'shelf'} for {record.label}: "
                "the slot or the parcel already holds a reservation"
            )
        return dataclasses.replace(record, id=int(row[0]))

    def held_reservation(self, label: str) -> ReservationRecord | None:
        row = self._db.execute(
            f"SELECT {_RESERVATION_COLUMNS} FROM reservations WHERE label = ? AND status = 'held'",  # noqa: S608
            (label,),
        ).fetchone()
        return _reservation(row) if row else None

    def held_reservations(self, site: str | None = None) -> list[ReservationRecord]:
        if site is None:
            rows = self._db.execute(
                f"SELECT {_RESERVATION_COLUMNS} FROM reservations WHERE status = 'held'"  # noqa: S608
            )
        else:
            rows = self._db.execute(
                f"""SELECT {_RESERVATION_COLUMNS} FROM reservations
                    WHERE status = 'held' AND site = ?""",  # noqa: S608
                (site,),
            )
        return [_reservation(r) for r in rows]

    def held_reservations_until(self, before: float) -> list[ReservationRecord]:
        rows = self._db.execute(
            f"""SELECT {_RESERVATION_COLUMNS} FROM reservations
                WHERE status = 'held' AND until <= ? ORDER BY until, id""",  # noqa: S608
            (before,),
        )
        return [_reservation(r) for r in rows]

    def set_reservation(
        self, reservation_id: int, status: ReservationStatus, command_id: str | None
    ) -> None:
        self._db.execute(
            "UPDATE reservations SET status = ?, command_id = coalesce(?, command_id) WHERE id = ?",
            (status, command_id, reservation_id),
        )

    def end_held_reservation(self, reservation_id: int, status: str) -> bool:
        """Move a held reservation to `status` (lapsed, cancelled, fulfilled); False if it
        is no longer held (another process ended it first: act only on a True)."""
        cursor = self._db.execute(
            "UPDATE reservations SET status = ? WHERE id = ? AND status = 'held'",
            (status, reservation_id),
        )
        return cursor.rowcount == 1


_RESERVATION_COLUMNS = "id, label, site, slot, size, created_at, until, status, command_id"


def _reservation(row: Sequence[Any]) -> ReservationRecord:
    return ReservationRecord(
        label=row[1],
        site=row[2],
        slot=row[3],
        size=row[4],
        created_at=row[5],
        until=row[6],
        status=ReservationStatus(row[7]),
        command_id=row[8],
        id=row[0],
    )
