"""Courier badges central signed: issued, listed, revoked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries

_COLUMNS = (
    "badge_id, courier, partner, valid_from, valid_until, issued_at, issued_by, revoked_at,"
    " revoked_by"
)


@dataclass(frozen=True)
class BadgeRecord:
    """One courier badge as central issued it. Times are Unix seconds; `badge_id` is the
    signed badge's nonce in hex (what a site remembers when the badge is revoked)."""

    badge_id: str
    courier: str
    partner: str
    valid_from: float
    valid_until: float
    issued_at: float
    issued_by: str
    revoked_at: float | None = None
    revoked_by: str | None = None


class BadgeQueries(Queries):
    """The SQL of courier badges central signed: issued, listed, revoked."""

    def add_badge(self, record: BadgeRecord) -> None:
        self._db.execute(
            f"INSERT INTO badges ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608 - names only
            (
                record.badge_id,
                record.courier,
                record.partner,
                record.valid_from,
                record.valid_until,
                record.issued_at,
                record.issued_by,
                record.revoked_at,
                record.revoked_by,
            ),
        )

    def get_badge(self, badge_id: str) -> BadgeRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM badges WHERE badge_id = ?",  # noqa: S608 - names only
            (badge_id,),
        ).fetchone()
        return None if row is None else _badge(row)

    def list_badges(
        self, *, include_revoked: bool = False, courier: str | None = None
    ) -> list[BadgeRecord]:
        where = ["1 = 1"]
        parameters: list[Any] = []
        if not include_revoked:
            where.append("revoked_at IS NULL")
        if courier is not None:
            where.append("courier = ?")
            parameters.append(courier)
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM badges WHERE {' AND '.join(where)}"  # noqa: S608 - fixed clauses
            " ORDER BY issued_at, badge_id",
            parameters,
        )
        return [_badge(r) for r in rows]

    def revoked_badges_valid_at(self, now: float) -> list[BadgeRecord]:
        """Revoked badges that would still be valid at `now`: what every site must refuse."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM badges"  # noqa: S608 - fixed columns
            " WHERE revoked_at IS NOT NULL AND valid_until > ? ORDER BY issued_at, badge_id",
            (now,),
        )
        return [_badge(r) for r in rows]

    def revoke_badge(self, badge_id: str, by: str, at: float) -> bool:
        """Mark a badge revoked; False if it is unknown or was revoked already."""
        cursor = self._db.execute(
            "UPDATE badges SET revoked_at = ?, revoked_by = ? "
            "WHERE badge_id = ? AND revoked_at IS NULL",
            (at, by, badge_id),
        )
        return cursor.rowcount == 1


def _badge(row: Sequence[Any]) -> BadgeRecord:
    return BadgeRecord(
        badge_id=row[0],
        courier=row[1],
        partner=row[2],
        valid_from=float(row[3]),
        valid_until=float(row[4]),
        issued_at=float(row[5]),
        issued_by=row[6],
        revoked_at=None if row[7] is None else float(row[7]),
        revoked_by=row[8],
    )
