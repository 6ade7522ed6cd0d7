"""Pickup codes issued for a parcel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from central.store.queries.base import Queries
from central.store.records import CodeRecord, CodeStatus


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
        return [_code(r) for r in rows]

    def set_code_status(self, code_id: str, status: CodeStatus) -> None:
        self._db.execute("UPDATE pickup_codes SET status = ? WHERE code_id = ?", (status, code_id))


def _code(row: Sequence[Any]) -> CodeRecord:
    return CodeRecord(
        code_id=row[0],
        label=row[1],
        site=row[2],
        short_form=row[3],
        issued_at=row[4],
        expires_at=row[5],
        status=CodeStatus(row[6]),
    )
