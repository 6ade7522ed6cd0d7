"""Parcels to be taken out of a site (expired, recalled)."""

from __future__ import annotations

from central.store.queries.base import Queries
from central.store.records import RemovalRecord


class RemovalQueries(Queries):
    """Removals, open until the parcel is out."""

    def add_removal(self, record: RemovalRecord) -> None:
        self._db.execute(
            """INSERT INTO removals (label, site, slot, reason, created_at, done_at)
                VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
            (
                record.label,
                record.site,
                record.slot,
                record.reason,
                record.created_at,
                record.done_at,
            ),
        )

    def finish_removals(self, label: str, at: float) -> None:
        self._db.execute(
            "UPDATE removals SET done_at = ? WHERE label = ? AND done_at IS NULL", (at, label)
        )

    def open_removals(self, site: str | None = None) -> list[RemovalRecord]:
        query = "SELECT label, site, reason, created_at, slot, done_at FROM removals "
        query += "WHERE done_at IS NULL"
        params: tuple[str, ...] = ()
        if site is not None:
            query += " AND site = ?"
            params = (site,)
        return [RemovalRecord(*r) for r in self._db.execute(query + " ORDER BY created_at", params)]
