"""Capacity held for a parcel at a site (a slot, or a shelf place)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import Any

from central.errors import StoreConflict
from central.store.queries.base import Queries
from central.store.records import ReservationRecord


class ReservationQueries(Queries):
    """Reservations: held, fulfilled, lapsed or cancelled."""

    def add_reservation(self, record: ReservationRecord) -> ReservationRecord:
        """Hold capacity. StoreConflict if the slot or the parcel already holds one."""
        try:
            cursor = self._db.execute(
                """INSERT INTO reservations (label, site, slot, size, created_at, until,
                    status, command_id) VALUES (?,?,?,?,?,?,?,?)""",
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
            )
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(
                f"cannot reserve {record.site}/{record.slot or 'shelf'} for {record.label}: {exc}"
            ) from None
        return _replace(record, id=cursor.lastrowid)

    def held_reservation(self, label: str) -> ReservationRecord | None:
        row = self._db.execute(
            "SELECT * FROM reservations WHERE label = ? AND status = 'held'", (label,)
        ).fetchone()
        return _reservation(row) if row else None

    def held_reservations(self, site: str | None = None) -> list[ReservationRecord]:
        if site is None:
            rows = self._db.execute("SELECT * FROM reservations WHERE status = 'held'")
        else:
            rows = self._db.execute(
                "SELECT * FROM reservations WHERE status = 'held' AND site = ?", (site,)
            )
        return [_reservation(r) for r in rows]

    def held_reservations_until(self, before: float) -> list[ReservationRecord]:
        rows = self._db.execute(
            "SELECT * FROM reservations WHERE status = 'held' AND until <= ? ORDER BY until",
            (before,),
        )
        return [_reservation(r) for r in rows]

    def set_reservation(self, reservation_id: int, status: str, command_id: str | None) -> None:
        self._db.execute(
            "UPDATE reservations SET status = ?, command_id = coalesce(?, command_id) WHERE id = ?",
            (status, command_id, reservation_id),
        )


def _replace(record: ReservationRecord, id: int | None) -> ReservationRecord:
    return dataclasses.replace(record, id=id)


def _reservation(row: Sequence[Any]) -> ReservationRecord:
    return ReservationRecord(
        label=row[1],
        site=row[2],
        slot=row[3],
        size=row[4],
        created_at=row[5],
        until=row[6],
        status=row[7],
        command_id=row[8],
        id=row[0],
    )
