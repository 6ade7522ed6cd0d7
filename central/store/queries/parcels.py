"""Parcels and the steps of their lifecycle."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from central.store.queries.base import Queries, upsert
from central.store.records import (
    Contact,
    ParcelRecord,
    ParcelState,
    ParcelStep,
    StepRecord,
)


class ParcelQueries(Queries):
    """Parcels, and each recorded step of one."""

    # How a chunk's rows are held (PostgreSQL: FOR UPDATE; SQLite's BEGIN IMMEDIATE already
    # holds every row for the transaction).
    _CHUNK_LOCK = ""

    def get_parcel(self, label: str) -> ParcelRecord | None:
        return self._read_parcel(label, lock=False)

    def _read_parcel(self, label: str, *, lock: bool) -> ParcelRecord | None:
        """The parcel's row; with `lock`, locked to the transaction's end in the same round
        trip (FOR UPDATE: a store with row locks; SQLite has none and never asks)."""
        row = self._db.execute(
            f"SELECT {_PARCEL_COLUMNS} FROM parcels WHERE label = ?"  # noqa: S608
            + (" FOR UPDATE" if lock else ""),
            (label,),
        ).fetchone()
        return _parcel(row) if row else None

    def lock_parcels(
        self, labels: Iterable[str], *, create_owner: str | None = None, now: float = 0.0
    ) -> dict[str, ParcelRecord]:
        """The parcels of `labels`, by label, each row held to the transaction's end, taken
        in label order in one query (waits for another holder). A label central does not
        have gets a bare row first (state NULL, `updated_at` `now`, owner `create_owner`)
        so that it too is held: the caller must give each one a state before it commits
        (or drop it with `drop_bare_parcels`)."""
        wanted = sorted(set(labels))
        if not wanted:
            return {}
        self._db.executemany(
            "INSERT INTO parcels (label, updated_at, owner) VALUES (?,?,?)"
            " ON CONFLICT (label) DO NOTHING",
            [(label, now, create_owner) for label in wanted],
        )
        return self.hold_parcels(wanted)

    def hold_parcels(self, labels: Iterable[str]) -> dict[str, ParcelRecord]:
        """The parcels of `labels` central has, by label, each row held to the transaction's
        end, taken in label order in one query (waits for another holder). A label not in
        the answer is a parcel central does not have."""
        return self._parcels_of(labels, self._CHUNK_LOCK)

    def read_parcels(self, labels: Iterable[str]) -> dict[str, ParcelRecord]:
        """The parcels of `labels` central has, by label, as last committed, in one query
        that takes no lock and waits for no writer: for a look before work done outside
        the transaction; a decision reads its parcel again under its locks."""
        return self._parcels_of(labels, "")

    def _parcels_of(self, labels: Iterable[str], lock: str) -> dict[str, ParcelRecord]:
        wanted = sorted(set(labels))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT {_PARCEL_COLUMNS} FROM parcels WHERE label IN ({marks})"  # noqa: S608 - placeholders only
            f" ORDER BY label{lock}",
            wanted,
        ).fetchall()
        return {row[0]: _parcel(row) for row in rows}

    def drop_bare_parcels(self, labels: Iterable[str]) -> None:
        """Remove the bare rows (state NULL) `lock_parcels` made of `labels` and nothing
        gave a state."""
        wanted = sorted(set(labels))
        if wanted:
            marks = ",".join("?" * len(wanted))
            self._db.execute(
                f"DELETE FROM parcels WHERE state IS NULL AND label IN ({marks})",  # noqa: S608 - placeholders only
                wanted,
            )

    def claim_parcels(
        self, labels: Iterable[str], states: Iterable[str]
    ) -> dict[str, ParcelRecord]:
        """Of `labels`, the parcels in one of `states`, by label, each held to the
        transaction's end, taken in label order in one query. A parcel another transaction
        holds is waited for, then taken only if still in `states` (on PostgreSQL a locking
        read checks its condition again on the row as committed), as `claim_parcel` does."""
        wanted, allowed = sorted(set(labels)), list(states)
        if not wanted or not allowed:
            return {}
        marks = ",".join("?" * len(wanted))
        state_marks = ",".join("?" * len(allowed))
        rows = self._db.execute(
            f"SELECT {_PARCEL_COLUMNS} FROM parcels WHERE label IN ({marks})"  # noqa: S608 - placeholders only
            f" AND state IN ({state_marks}) ORDER BY label{self._CHUNK_LOCK}",
            (*wanted, *allowed),
        ).fetchall()
        return {row[0]: _parcel(row) for row in rows}

    def save_parcel(self, record: ParcelRecord) -> None:
        self._db.execute(
            upsert("parcels", _PARCEL_COLUMNS, ("label",)),
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
                _contact_json(record.contact),
                record.site,
                record.slot,
                record.partner,
                record.courier,
                record.announced_at,
                record.dispatched_at,
                record.updated_at,
                record.pickup_expires_at,
                record.owner,
                record.service,
                record.deadline_at,
                record.milestone,
                record.sla_state,
                record.kind,
                record.return_of,
            ),
        )

    def parcels_in_state(self, states: Iterable[str], limit: int = 100_000) -> list[ParcelRecord]:
        wanted = list(states)
        if not wanted:
            return []  # PostgreSQL refuses an empty IN ()
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"""SELECT {_PARCEL_COLUMNS} FROM parcels WHERE state IN ({marks})
                ORDER BY label LIMIT ?""",  # noqa: S608 - only placeholders are interpolated
            (*wanted, limit),
        )
        return [_parcel(r) for r in rows]

    def search_parcels(
        self,
        prefix: str = "",
        state: str | None = None,
        site: str | None = None,
        limit: int = 100,
    ) -> list[ParcelRecord]:
        """Parcels whose label starts with `prefix` (letters and digits only: the caller
        checks), in `state` and at `site` if given, by label, at most `limit`."""
        query = f"SELECT {_PARCEL_COLUMNS} FROM parcels WHERE label LIKE ?"  # noqa: S608
        params: list[Any] = [prefix + "%"]
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        if site is not None:
            query += " AND site = ?"
            params.append(site)
        rows = self._db.execute(query + " ORDER BY label LIMIT ?", (*params, limit))
        return [_parcel(r) for r in rows]

    def courier_loads(self, states: Iterable[str]) -> list[tuple[str, str, int]]:
        """(partner, courier, parcels) of parcels in `states` that have a courier."""
        wanted = list(states)
        if not wanted:
            return []
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

    def claim_parcel(self, label: str, states: Iterable[str]) -> ParcelRecord | None:
        """The parcel, if it is in one of `states`, held by this transaction until it ends;
        None if it is not (any more). A no-op update takes the row: a second process that
        claims the same parcel waits for the first to finish, then finds it moved on (on
        PostgreSQL an UPDATE re-checks its condition on the row as committed)."""
        wanted = list(states)
        if not wanted:
            return None
        marks = ",".join("?" * len(wanted))
        cursor = self._db.execute(
            f"UPDATE parcels SET state = state WHERE label = ? AND state IN ({marks})",  # noqa: S608 - only placeholders are interpolated
            (label, *wanted),
        )
        if cursor.rowcount != 1:
            return None
        record = self.get_parcel(label)
        return record if record is not None and record.state in wanted else None

    def steps(self, label: str) -> list[StepRecord]:
        rows = self._db.execute(
            """SELECT label, step, before, after, at, source, detail, recorded_at
                FROM parcel_steps WHERE label = ? ORDER BY id""",
            (label,),
        )
        return [_step(r) for r in rows]


_PARCEL_COLUMNS = (
    "label, state, size, weight_kg, postal_code, lat, lon, delivery_mode, preferred_site, "
    "contact_json, site, slot, partner, courier, announced_at, dispatched_at, updated_at, "
    "pickup_expires_at, owner, service, deadline_at, milestone, sla_state, kind, return_of"
)
# For other aggregates' queries that read parcels (a partner's own parcels).
PARCEL_COLUMNS = _PARCEL_COLUMNS


def _parcel(row: Sequence[Any]) -> ParcelRecord:
    return ParcelRecord(
        label=row[0],
        state=None if row[1] is None else ParcelState(row[1]),
        size=row[2],
        weight_kg=row[3],
        postal_code=row[4],
        lat=row[5],
        lon=row[6],
        delivery_mode=row[7],
        preferred_site=row[8],
        contact=_contact(row[9]),
        site=row[10],
        slot=row[11],
        partner=row[12],
        courier=row[13],
        announced_at=row[14],
        dispatched_at=row[15],
        updated_at=row[16],
        pickup_expires_at=row[17],
        owner=row[18],
        service=row[19],
        deadline_at=row[20],
        milestone=row[21],
        sla_state=row[22],
        kind=row[23],
        return_of=row[24],
    )


parcel_from_row = _parcel


def _contact_json(contact: Contact | None) -> str | None:
    if contact is None:
        return None
    return json.dumps(
        {
            "name": contact.name,
            "phone": contact.phone,
            "email": contact.email,
            "language": contact.language,
        },
        separators=(",", ":"),
    )


def _contact(text: str | None) -> Contact | None:
    data = json.loads(text) if text else None
    if not isinstance(data, dict):
        return None
    return Contact(
        name=data.get("name"),
        phone=data.get("phone"),
        email=data.get("email"),
        language=data.get("language"),
    )


def _step(row: Sequence[Any]) -> StepRecord:
    return StepRecord(
        label=row[0],
        step=ParcelStep(row[1]),
        before=None if row[2] is None else ParcelState(row[2]),
        after=ParcelState(row[3]),
        at=row[4],
        source=row[5],
        detail=row[6],
        recorded_at=row[7],
    )
