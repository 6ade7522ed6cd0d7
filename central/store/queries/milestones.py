"""Cross-border milestones of parcels, each once, by event time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries

_COLUMNS = "label, milestone, at, source, received_at, location, detail"


@dataclass(frozen=True)
class MilestoneRecord:
    """One cross-border milestone of one parcel: `milestone` a Milestone value, `at` when it
    happened (Unix s, the reporter's word), `source` who said so (a file and its row, a
    partner, a carrier), `received_at` when central first heard it; `location` a place as
    the reporter names it (an airport, a hub), `detail` its free text."""

    label: str
    milestone: str
    at: float
    source: str
    received_at: float
    location: str | None = None
    detail: str | None = None


def _record(row: Any) -> MilestoneRecord:
    return MilestoneRecord(
        label=row[0],
        milestone=row[1],
        at=row[2],
        source=row[3],
        received_at=row[4],
        location=row[5],
        detail=row[6],
    )


class MilestoneQueries(Queries):
    """The SQL of cross-border milestones of parcels, each once, by event time."""

    def milestones(self, label: str) -> list[MilestoneRecord]:
        """The parcel's milestones, oldest event first (ties by name, so the order is stable)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM parcel_milestones WHERE label = ?"  # noqa: S608 - names only
            " ORDER BY at, milestone",
            (label,),
        ).fetchall()
        return [_record(row) for row in rows]

    def get_milestone(self, label: str, milestone: str) -> MilestoneRecord | None:
        """The parcel's record of `milestone`, or None if it has none."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM parcel_milestones"  # noqa: S608 - names only
            " WHERE label = ? AND milestone = ?",
            (label, milestone),
        ).fetchone()
        return None if row is None else _record(row)

    def milestones_of(self, labels: Iterable[str]) -> dict[tuple[str, str], MilestoneRecord]:
        """Every milestone of the parcels `labels`, by (label, milestone), in one query: what
        a chunk of a feed checks its reports against (read after the parcels are locked)."""
        wanted = sorted(set(labels))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM parcel_milestones WHERE label IN ({marks})",  # noqa: S608 - placeholders only
            wanted,
        ).fetchall()
        return {(row[0], row[1]): _record(row) for row in rows}

    def save_milestone(self, record: MilestoneRecord) -> None:
        """Insert `record`, or, if the parcel has the milestone at a later time, move it to
        `record`'s time, source, location and detail (the first `received_at` stays); an
        earlier or equal stored time is left as is. Reads nothing back (on PostgreSQL it
        waits for no round trip): for a caller that knows the answer already, having read
        the parcel's milestones while holding the parcel."""
        self._db.execute(
            f"INSERT INTO parcel_milestones ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)"  # noqa: S608 - names only
            """ ON CONFLICT (label, milestone) DO UPDATE SET at = excluded.at,
                source = excluded.source, location = excluded.location,
                detail = excluded.detail WHERE parcel_milestones.at > excluded.at""",
            (
                record.label,
                record.milestone,
                record.at,
                record.source,
                record.received_at,
                record.location,
                record.detail,
            ),
        )

    def add_milestone(self, record: MilestoneRecord) -> bool:
        """Record a milestone; False (nothing written) if the parcel already has it."""
        cursor = self._db.execute(
            f"INSERT INTO parcel_milestones ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)"  # noqa: S608 - names only
            " ON CONFLICT (label, milestone) DO NOTHING",
            (
                record.label,
                record.milestone,
                record.at,
                record.source,
                record.received_at,
                record.location,
                record.detail,
            ),
        )
        return cursor.rowcount == 1

    def move_milestone_earlier(self, record: MilestoneRecord) -> bool:
        """Replace the stored report of `record.milestone` with `record` if `record.at` is
        earlier (the first report's `received_at` stays); False if it is not earlier."""
        cursor = self._db.execute(
            """UPDATE parcel_milestones SET at = ?, source = ?, location = ?, detail = ?
                WHERE label = ? AND milestone = ? AND at > ?""",
            (
                record.at,
                record.source,
                record.location,
                record.detail,
                record.label,
                record.milestone,
                record.at,
            ),
        )
        return cursor.rowcount == 1
