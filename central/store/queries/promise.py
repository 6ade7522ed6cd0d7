"""The delivery promise's watch over parcels: deadlines to set, parcels due to be judged,
and the outcomes a report counts (central/parcels/promise.py decides; this only reads and
writes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries
from central.store.queries.parcels import PARCEL_COLUMNS, parcel_from_row
from central.store.records import ParcelRecord

# The outcomes a report counts: reached the consumer in time, or the deadline passed first.
_DECIDED = ("met", "breached")


@dataclass(frozen=True)
class PromiseOutcome:
    """One parcel whose promise is decided: `sla_state` "met" or "breached", `cause` the
    milestone or state it was at when the deadline passed (breached only), `deadline_at`
    Unix s; `partner` the last-mile partner, `owner` the partner that announced it, `site`
    where it was delivered to (None: a home delivery)."""

    label: str
    sla_state: str
    deadline_at: float
    partner: str | None
    owner: str | None
    site: str | None
    delivery_mode: str | None
    cause: str | None


class PromiseQueries(Queries):
    """The promise's columns of parcels: deadline_at, sla_state, sla_check_at, sla_cause."""

    # Appended to the reads of a batch to stamp or judge. A store with row locks claims the
    # batch's rows there, skipping rows another transaction holds (PostgreSQL's session:
    # " FOR UPDATE SKIP LOCKED"): a step of ingest holds a parcel's row while it waits for
    # another, and a batch that waited for rows in its own order deadlocked with it. A
    # skipped parcel keeps its sla_check_at and is judged at the next tick.
    _BATCH_CLAIM = ""

    def parcels_without_deadline(self, limit: int) -> list[ParcelRecord]:
        """Parcels the promise has not looked at yet (no deadline, no SLA state), at most
        `limit`, by label. Served by the partial index parcels_unstamped."""
        rows = self._db.execute(
            f"""SELECT {PARCEL_COLUMNS} FROM parcels
                WHERE deadline_at IS NULL AND sla_state IS NULL
                ORDER BY label LIMIT ?{self._BATCH_CLAIM}""",  # noqa: S608 - column names only
            (limit,),
        )
        return [parcel_from_row(r) for r in rows]

    def parcels_to_judge(self, now: float, limit: int) -> list[ParcelRecord]:
        """Parcels whose next judging time (sla_check_at) is `now` or earlier, soonest first,
        at most `limit`. Served by the partial index parcels_sla_check."""
        rows = self._db.execute(
            f"""SELECT {PARCEL_COLUMNS} FROM parcels
                WHERE sla_check_at IS NOT NULL AND sla_check_at <= ?
                ORDER BY sla_check_at, label LIMIT ?{self._BATCH_CLAIM}""",  # noqa: S608 - column names only
            (now, limit),
        )
        return [parcel_from_row(r) for r in rows]

    def set_promise(
        self,
        label: str,
        state: str | None,
        *,
        deadline_at: float | None,
        sla_state: str,
        check_at: float | None,
        cause: str | None = None,
    ) -> bool:
        """Write a parcel's promise if it is still in `state` (the state it was judged in);
        False if it moved on meanwhile (it is judged again from its new state)."""
        cursor = self._db.execute(
            """UPDATE parcels SET deadline_at = ?, sla_state = ?, sla_check_at = ?,
                sla_cause = coalesce(?, sla_cause) WHERE label = ? AND state = ?""",
            (deadline_at, sla_state, check_at, cause, label, state),
        )
        return cursor.rowcount == 1

    def set_promise_watch(self, label: str, check_at: float | None, cause: str | None) -> None:
        """Set when the parcel is judged next (None: never again) and, if given, where the
        time was lost; a step already wrote its sla_state."""
        self._db.execute(
            """UPDATE parcels SET sla_check_at = ?, sla_cause = coalesce(?, sla_cause)
                WHERE label = ?""",
            (check_at, cause, label),
        )

    def promise_outcomes(
        self, since: float | None = None, until: float | None = None
    ) -> list[PromiseOutcome]:
        """Parcels whose promise is decided, with a deadline in [since, until) (either end
        open when None), by deadline. Served by the index parcels_deadline."""
        query = """SELECT label, sla_state, deadline_at, partner, owner, site, delivery_mode,
            sla_cause FROM parcels WHERE deadline_at IS NOT NULL AND sla_state IN (?, ?)"""
        params: list[Any] = list(_DECIDED)
        if since is not None:
            query += " AND deadline_at >= ?"
            params.append(since)
        if until is not None:
            query += " AND deadline_at < ?"
            params.append(until)
        rows = self._db.execute(query + " ORDER BY deadline_at, label", params)
        return [_outcome(r) for r in rows]

    def promise_state_counts(self) -> dict[str, int]:
        """Parcels by SLA state ("unjudged" for those not looked at yet)."""
        rows = self._db.execute("SELECT sla_state, count(*) FROM parcels GROUP BY sla_state")
        return {r[0] or "unjudged": r[1] for r in rows}


def _outcome(row: Sequence[Any]) -> PromiseOutcome:
    return PromiseOutcome(
        label=row[0],
        sla_state=row[1],
        deadline_at=row[2],
        partner=row[3],
        owner=row[4],
        site=row[5],
        delivery_mode=row[6],
        cause=row[7],
    )
