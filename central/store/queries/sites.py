"""The sites aggregate's SQL: a site's record, its liveness, its compartments (slots)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from central.store.queries.base import Queries, optional_bool, upsert
from central.store.records import (
    Fault,
    LivenessRecord,
    SiteKind,
    SiteRecord,
    SlotRecord,
    SlotState,
)

# What the NOT NULL kind column holds for a site heard from before the network file named it
# (SiteRecord.kind None).
UNKNOWN_KIND = "unknown"


class SiteQueries(Queries):
    """Sites, their liveness and their slots."""

    def get_site(self, site: str) -> SiteRecord | None:
        if site in self._site_cache:
            cached: SiteRecord | None = self._site_cache[site]
            return cached
        row = self._db.execute(
            f"SELECT {_SITE_COLUMNS} FROM sites WHERE site = ?",  # noqa: S608 - column names only
            (site,),
        ).fetchone()
        record = _site(row) if row else None
        self._site_cache[site] = record
        return record

    def list_sites(self) -> list[SiteRecord]:
        rows = self._db.execute(f"SELECT {_SITE_COLUMNS} FROM sites ORDER BY site")  # noqa: S608
        return [_site(r) for r in rows]

    def save_site(self, record: SiteRecord) -> None:
        self._site_cache[record.site] = record
        self._db.execute(
            upsert("sites", _SITE_COLUMNS, ("site",)),
            (
                record.site,
                UNKNOWN_KIND if record.kind is None else record.kind,
                record.name,
                record.lat,
                record.lon,
                record.shelf_capacity,
                record.shelf_used,
                None if record.online is None else int(record.online),
                record.status_at,
                record.boot_id,
                record.agent_version,
                record.snapshot_at,
                record.snapshot_seq,
                json.dumps([f.model_dump(mode="json") for f in record.faults]),
                json.dumps(dict(record.compartments)),
                record.broker,
            ),
        )

    def get_liveness(self, site: str) -> LivenessRecord | None:
        row = self._db.execute(
            f"SELECT {_LIVENESS_COLUMNS} FROM site_liveness WHERE site = ?",  # noqa: S608
            (site,),
        ).fetchone()
        return _liveness(row) if row else None

    def save_liveness(self, record: LivenessRecord) -> None:
        self._db.execute(
            upsert("site_liveness", _LIVENESS_COLUMNS, ("site",)),
            (
                record.site,
                record.heard_at,
                record.beat_at,
                record.beat_interval_s,
                record.clock_offset_s,
                int(record.stale),
                record.time_sent_at,
            ),
        )

    def list_liveness(self) -> list[LivenessRecord]:
        rows = self._db.execute(
            f"SELECT {_LIVENESS_COLUMNS} FROM site_liveness ORDER BY site"  # noqa: S608
        )
        return [_liveness(r) for r in rows]

    def list_slots(self, site: str) -> list[SlotRecord]:
        rows = self._db.execute(
            f"SELECT {_SLOT_COLUMNS} FROM slots WHERE site = ? ORDER BY slot",  # noqa: S608
            (site,),
        )
        return [_slot(r) for r in rows]

    def get_slot(self, site: str, slot: str) -> SlotRecord | None:
        row = self._db.execute(
            f"SELECT {_SLOT_COLUMNS} FROM slots WHERE site = ? AND slot = ?",  # noqa: S608
            (site, slot),
        ).fetchone()
        return _slot(row) if row else None

    def save_slot(self, record: SlotRecord) -> None:
        self._db.execute(
            upsert("slots", _SLOT_COLUMNS, ("site", "slot")),
            (
                record.site,
                record.slot,
                record.size,
                record.state,
                record.parcel,
                record.reserved_for,
                None if record.occupied is None else int(record.occupied),
                record.door,
                record.updated_at,
            ),
        )

    def replace_slots(self, site: str, slots: Iterable[SlotRecord]) -> None:
        self._db.execute("DELETE FROM slots WHERE site = ?", (site,))
        for record in slots:
            self.save_slot(record)

    def free_slots(self, site: str, size: str) -> list[str]:
        """Slots of `size` the site reports free and no held reservation has claimed."""
        rows = self._db.execute(
            """SELECT s.slot FROM slots s WHERE s.site = ? AND s.size = ? AND s.state = 'free'
                AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.site = s.site
                    AND r.slot = s.slot AND r.status = 'held')
                ORDER BY s.slot""",
            (site, size),
        )
        return [r[0] for r in rows]

    def free_slot_counts(self) -> list[tuple[str, str, int]]:
        """(site, size, free and unreserved slots) for every site with any."""
        rows = self._db.execute(
            """SELECT s.site, s.size, count(*) FROM slots s WHERE s.state = 'free'
                AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.site = s.site
                    AND r.slot = s.slot AND r.status = 'held')
                GROUP BY s.site, s.size"""
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def has_slots(self, site: str) -> bool:
        """Whether the site ever told central its slots (in a state snapshot)."""
        row = self._db.execute("SELECT 1 FROM slots WHERE site = ? LIMIT 1", (site,)).fetchone()
        return row is not None

    def held_count(self, site: str, size: str | None = None, unplaced: bool = False) -> int:
        """Held reservations at a site (of one size; only those no slot shows yet)."""
        query = "SELECT count(*) FROM reservations r WHERE r.site = ? AND r.status = 'held'"
        params: list[str] = [site]
        if size is not None:
            query += " AND r.size = ?"
            params.append(size)
        if unplaced:
            # Held without a slot named by central, and no slot of the site shows it yet.
            query += """ AND r.slot IS NULL AND NOT EXISTS (SELECT 1 FROM slots s
                WHERE s.site = r.site AND s.reserved_for = r.label)"""
        row = self._db.execute(query, params).fetchone()
        return int(row[0])

    def slot_state_counts(self) -> list[tuple[str, str, int]]:
        """(site, slot state, count) across the fleet."""
        rows = self._db.execute("SELECT site, state, count(*) FROM slots GROUP BY site, state")
        return [(r[0], r[1], r[2]) for r in rows]


_SITE_COLUMNS = (
    "site, kind, name, lat, lon, shelf_capacity, shelf_used, online, status_at, boot_id, "
    "agent_version, snapshot_at, snapshot_seq, faults_json, compartments_json, broker"
)
_LIVENESS_COLUMNS = "site, heard_at, beat_at, beat_interval_s, clock_offset_s, stale, time_sent_at"
_SLOT_COLUMNS = "site, slot, size, state, parcel, reserved_for, occupied, door, updated_at"


def _site(row: Sequence[Any]) -> SiteRecord:
    return SiteRecord(
        site=row[0],
        kind=None if row[1] == UNKNOWN_KIND else SiteKind(row[1]),
        name=row[2],
        lat=row[3],
        lon=row[4],
        shelf_capacity=row[5],
        shelf_used=row[6],
        online=optional_bool(row[7]),
        status_at=row[8],
        boot_id=row[9],
        agent_version=row[10],
        snapshot_at=row[11],
        snapshot_seq=row[12],
        faults=tuple(Fault.model_validate(f) for f in json.loads(row[13])),
        compartments={str(size): int(n) for size, n in json.loads(row[14]).items()},
        broker=row[15],
    )


def _liveness(row: Sequence[Any]) -> LivenessRecord:
    return LivenessRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])


def _slot(row: Sequence[Any]) -> SlotRecord:
    return SlotRecord(
        site=row[0],
        slot=row[1],
        size=row[2],
        state=SlotState(row[3]),
        parcel=row[4],
        reserved_for=row[5],
        occupied=optional_bool(row[6]),
        door=row[7],
        updated_at=row[8],
    )
