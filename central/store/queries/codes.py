"""Pickup codes issued for a parcel."""

from __future__ import annotations

from central.store.queries.base import Queries
from central.store.records import CodeRecord


class CodeQueries(Queries):
    """Pickup codes: active, revoked or used."""

    def add_code(self, record: CodeRecord) -> None:
        self._db.execute(
            """INSERT INTO pickup_codes (code_id, label, site, short_form, issued_at,
                expires_at, status) VALUES (?,?,?,?,?,?,?)""",
            (
                record.code_id,
                record.label,
                record.site,
                record.short_form,
                record.issued_at,
                record.expires_at,
                record.status,
            ),
        )

    def codes(self, label: str) -> list[CodeRecord]:
        rows = self._db.execute(
            """SELECT code_id, label, site, short_form, issued_at, expires_at, status
                FROM pickup_codes WHERE label = ? ORDER BY issued_at""",
            (label,),
        )
        return [CodeRecord(*r) for r in rows]

    def set_code_status(self, code_id: str, status: str) -> None:
        self._db.execute("UPDATE pickup_codes SET status = ? WHERE code_id = ?", (status, code_id))
