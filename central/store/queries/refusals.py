"""Refused scans counted by site and reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries


@dataclass(frozen=True)
class RefusalRecord:
    """How often scans at `site` were refused for `reason` (a ScanRefusal value), and the
    newest one's time (Unix seconds, the site's event time) and detail."""

    site: str
    reason: str
    count: int
    last_at: float
    last_detail: str | None = None


class RefusalQueries(Queries):
    """The SQL of refused scans counted by site and reason."""

    def count_refusal(self, site: str, reason: str, at: float, detail: str | None) -> None:
        """Count one refused scan; the newest by event time gives last_at and last_detail."""
        self._db.execute(
            """INSERT INTO scan_refusals (site, reason, count, last_at, last_detail)
                VALUES (?, ?, 1, ?, ?)
                ON CONFLICT (site, reason) DO UPDATE SET
                    count = scan_refusals.count + 1,
                    last_detail = CASE WHEN excluded.last_at >= scan_refusals.last_at
                        THEN excluded.last_detail ELSE scan_refusals.last_detail END,
                    last_at = CASE WHEN excluded.last_at >= scan_refusals.last_at
                        THEN excluded.last_at ELSE scan_refusals.last_at END""",
            (site, reason, at, detail),
        )

    def scan_refusals(self, site: str | None = None) -> list[RefusalRecord]:
        if site is None:
            rows = self._db.execute(
                "SELECT site, reason, count, last_at, last_detail FROM scan_refusals"
                " ORDER BY site, count DESC, reason"
            )
        else:
            rows = self._db.execute(
                "SELECT site, reason, count, last_at, last_detail FROM scan_refusals"
                " WHERE site = ? ORDER BY count DESC, reason",
                (site,),
            )
        return [_refusal(r) for r in rows]


def _refusal(row: Sequence[Any]) -> RefusalRecord:
    return RefusalRecord(row[0], row[1], int(row[2]), float(row[3]), row[4])
