"""Consumers' return labels: issued, dropped off, received."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries

_COLUMNS = (
    "return_id, label, return_of, partner, site, size, issued_at, expires_at, dropped_at,"
    " dropped_site, dropped_slot, receipt"
)


@dataclass(frozen=True)
class ReturnLabelRecord:
    """One return label central signed for a partner. Times are Unix seconds.

    `label`: the return parcel's own label (its parcel record has kind "return");
    `return_of`: the delivered parcel it sends back, if the partner named it; `site`: the one
    site it may be dropped off at (None: any); `size`: a SizeClass value. Once dropped off:
    where (`dropped_site`, `dropped_slot`: a slot id, or "SHELF" at a counter) and the
    consumer's `receipt` number."""

    return_id: str
    label: str
    partner: str
    size: str
    issued_at: float
    expires_at: float
    return_of: str | None = None
    site: str | None = None
    dropped_at: float | None = None
    dropped_site: str | None = None
    dropped_slot: str | None = None
    receipt: str | None = None


class ReturnQueries(Queries):
    """The SQL of consumers' return labels: issued, dropped off, received."""

    def add_return_label(self, record: ReturnLabelRecord) -> None:
        self._db.execute(
            f"INSERT INTO return_labels ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608 - names only
            (
                record.return_id,
                record.label,
                record.return_of,
                record.partner,
                record.site,
                record.size,
                record.issued_at,
                record.expires_at,
                record.dropped_at,
                record.dropped_site,
                record.dropped_slot,
                record.receipt,
            ),
        )

    def get_return_label(self, return_id: str) -> ReturnLabelRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM return_labels WHERE return_id = ?",  # noqa: S608 - names only
            (return_id,),
        ).fetchone()
        return None if row is None else _return(row)

    def return_label_for(self, label: str) -> ReturnLabelRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM return_labels WHERE label = ?",  # noqa: S608 - names only
            (label,),
        ).fetchone()
        return None if row is None else _return(row)

    def list_return_labels(self, partner: str | None = None) -> list[ReturnLabelRecord]:
        where, parameters = ("partner = ?", [partner]) if partner else ("1 = 1", [])
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM return_labels WHERE {where}"  # noqa: S608 - fixed clauses
            " ORDER BY issued_at, return_id",
            parameters,
        )
        return [_return(r) for r in rows]

    def set_return_dropped(
        self, return_id: str, *, site: str, slot: str, at: float, receipt: str
    ) -> bool:
        cursor = self._db.execute(
            "UPDATE return_labels SET dropped_at = ?, dropped_site = ?, dropped_slot = ?,"
            " receipt = ? WHERE return_id = ? AND dropped_at IS NULL",
            (at, site, slot, receipt, return_id),
        )
        return cursor.rowcount == 1


def _return(row: Sequence[Any]) -> ReturnLabelRecord:
    return ReturnLabelRecord(
        return_id=row[0],
        label=row[1],
        return_of=row[2],
        partner=row[3],
        site=row[4],
        size=row[5],
        issued_at=row[6],
        expires_at=row[7],
        dropped_at=row[8],
        dropped_site=row[9],
        dropped_slot=row[10],
        receipt=row[11],
    )
