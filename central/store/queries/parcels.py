"""Parcels and the steps of their lifecycle."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from central.store.queries.base import Queries
from central.store.records import (
    ParcelRecord,
    StepRecord,
)


class ParcelQueries(Queries):
    """Parcels, and each recorded step of one."""

    def get_parcel(self, label: str) -> ParcelRecord | None:
        row = self._db.execute("SELECT * FROM parcels WHERE label = ?", (label,)).fetchone()
        return _parcel(row) if row else None

    def save_parcel(self, record: ParcelRecord) -> None:
        self._db.execute(
            """INSERT OR REPLACE INTO parcels (label, state, size, weight_kg, postal_code, lat,
                lon, delivery_mode, preferred_site, contact_json, site, slot, partner, courier,
                announced_at, dispatched_at, updated_at, pickup_expires_at)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                record.label,
                record.state,
                record.size,
                record.weight_kg,
                record.postal_code,
                record.lat,
                record.lon,
                record.delivery_mode,
                record.preferred_site,
                record.contact_json,
                record.site,
                record.slot,
                record.partner,
                record.courier,
                record.announced_at,
                record.dispatched_at,
                record.updated_at,
                record.pickup_expires_at,
            ),
        )

    def parcels_in_state(self, states: Iterable[str], limit: int = 100_000) -> list[ParcelRecord]:
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT * FROM parcels WHERE state IN ({marks}) ORDER BY label LIMIT ?",  # noqa: S608 - only placeholders are interpolated
            (*wanted, limit),
        )
        return [_parcel(r) for r in rows]

    def courier_loads(self, states: Iterable[str]) -> list[tuple[str, str, int]]:
        """(partner, courier, parcels) of parcels in `states` that have a courier."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"""SELECT partner, courier, count(*) FROM parcels WHERE state IN ({marks})
                AND courier IS NOT NULL AND partner IS NOT NULL GROUP BY partner, courier""",  # noqa: S608 - only placeholders are interpolated
            wanted,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def parcel_state_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, count(*) FROM parcels GROUP BY state")
        return {r[0] or "unknown": r[1] for r in rows}

    def add_step(self, step: StepRecord) -> None:
        self._db.execute(
            """INSERT INTO parcel_steps (label, step, before, after, at, source, detail,
                recorded_at) VALUES (?,?,?,?,?,?,?,?)""",
            (
                step.label,
                step.step,
                step.before,
                step.after,
                step.at,
                step.source,
                step.detail,
                step.recorded_at,
            ),
        )

    def steps(self, label: str) -> list[StepRecord]:
        rows = self._db.execute(
            """SELECT label, step, before, after, at, source, detail, recorded_at
                FROM parcel_steps WHERE label = ? ORDER BY id""",
            (label,),
        )
        return [StepRecord(*r) for r in rows]


def _parcel(row: Sequence[Any]) -> ParcelRecord:
    return ParcelRecord(*row)
