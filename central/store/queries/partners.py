"""Delivery partners, their API keys (hashed secrets, scopes) and the parcels they own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries
from central.store.queries.parcels import PARCEL_COLUMNS, parcel_from_row
from central.store.records import ParcelRecord


@dataclass(frozen=True)
class PartnerRecord:
    """A delivery partner that may call the partner API (`partner` is its id)."""

    partner: str
    name: str
    created_at: float


@dataclass(frozen=True)
class PartnerKeyRecord:
    """One API key of a partner. Only the SHA-256 of its secret is kept (hex); `scopes`
    are the scope names it grants, e.g. ("parcels:read", "parcels:write")."""

    key_id: str
    partner: str
    secret_hash: str
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None


@dataclass(frozen=True)
class LabelRangeRecord:
    """A label range registered to a partner: `pattern` is its normalised text ("EE*SG", an
    S10 service indicator and country, or a label prefix such as "LP1234"); see
    central/partners/label_ranges.py. A pattern belongs to one partner at most."""

    pattern: str
    partner: str
    added_at: float


class PartnerQueries(Queries):
    """The SQL of delivery partners, their API keys and the parcels each owns."""

    def add_partner(self, record: PartnerRecord) -> bool:
        """Add a partner; False (nothing changed) if its id is taken."""
        cursor = self._db.execute(
            """INSERT INTO partners (partner, name, created_at) VALUES (?,?,?)
                ON CONFLICT (partner) DO NOTHING""",
            (record.partner, record.name, record.created_at),
        )
        return cursor.rowcount == 1

    def get_partner(self, partner: str) -> PartnerRecord | None:
        row = self._db.execute(
            "SELECT partner, name, created_at FROM partners WHERE partner = ?", (partner,)
        ).fetchone()
        return PartnerRecord(row[0], row[1], float(row[2])) if row else None

    def list_partners(self) -> list[PartnerRecord]:
        rows = self._db.execute("SELECT partner, name, created_at FROM partners ORDER BY partner")
        return [PartnerRecord(r[0], r[1], float(r[2])) for r in rows]

    def add_partner_key(self, record: PartnerKeyRecord) -> None:
        self._db.execute(
            """INSERT INTO partner_keys (key_id, partner, secret_hash, scopes, created_at,
                revoked_at, last_used_at) VALUES (?,?,?,?,?,?,?)""",
            (
                record.key_id,
                record.partner,
                record.secret_hash,
                ",".join(record.scopes),
                record.created_at,
                record.revoked_at,
                record.last_used_at,
            ),
        )

    def get_partner_key(self, key_id: str) -> PartnerKeyRecord | None:
        row = self._db.execute(
            f"SELECT {_KEY_COLUMNS} FROM partner_keys WHERE key_id = ?",  # noqa: S608 - names only
            (key_id,),
        ).fetchone()
        return _key(row) if row else None

    def partner_keys(self, partner: str) -> list[PartnerKeyRecord]:
        """The partner's keys, revoked ones included, oldest first."""
        rows = self._db.execute(
            f"""SELECT {_KEY_COLUMNS} FROM partner_keys WHERE partner = ?
                ORDER BY created_at, key_id""",  # noqa: S608 - column names only
            (partner,),
        )
        return [_key(r) for r in rows]

    def revoke_partner_key(self, key_id: str, at: float) -> bool:
        """Revoke a key; False if it is unknown or already revoked."""
        cursor = self._db.execute(
            "UPDATE partner_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (at, key_id),
        )
        return cursor.rowcount == 1

    def touch_partner_key(self, key_id: str, at: float, older_than: float) -> None:
        """Note the key's use at `at`, if its last noted use is before `older_than` (a key
        used on every request is written once a while, not on every request)."""
        self._db.execute(
            """UPDATE partner_keys SET last_used_at = ? WHERE key_id = ?
                AND (last_used_at IS NULL OR last_used_at < ?)""",
            (at, key_id, older_than),
        )

    def label_ranges(self, partner: str | None = None) -> list[LabelRangeRecord]:
        """The label ranges of `partner` (None: of every partner), by partner and pattern."""
        query = "SELECT pattern, partner, added_at FROM partner_label_ranges"
        params: tuple[str, ...] = ()
        if partner is not None:
            query += " WHERE partner = ?"
            params = (partner,)
        rows = self._db.execute(query + " ORDER BY partner, pattern", params)
        return [LabelRangeRecord(r[0], r[1], float(r[2])) for r in rows]

    def add_label_range(self, record: LabelRangeRecord) -> bool:
        """Register a range; False (nothing changed) if the pattern is registered already,
        to this partner or another."""
        cursor = self._db.execute(
            """INSERT INTO partner_label_ranges (pattern, partner, added_at) VALUES (?,?,?)
                ON CONFLICT (pattern) DO NOTHING""",
            (record.pattern, record.partner, record.added_at),
        )
        return cursor.rowcount == 1

    def remove_label_range(self, partner: str, pattern: str) -> bool:
        """Remove a partner's range; False if it has no such range."""
        cursor = self._db.execute(
            "DELETE FROM partner_label_ranges WHERE partner = ? AND pattern = ?",
            (partner, pattern),
        )
        return cursor.rowcount == 1

    def others_parcels_like(self, partner: str, like: str, limit: int) -> list[tuple[str, str]]:
        """(label, owner) of up to `limit` parcels whose label is LIKE `like` and that another
        partner owns (not `partner`, not nobody), by label: what a new range finds squatted."""
        rows = self._db.execute(
            """SELECT label, owner FROM parcels WHERE label LIKE ? AND owner IS NOT NULL
                AND owner <> ? ORDER BY label LIMIT ?""",
            (like, partner, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def partner_parcel(self, partner: str, label: str) -> ParcelRecord | None:
        """The parcel if `partner` owns it (announced it); None for any other parcel, so a
        caller cannot tell another partner's parcel from one that does not exist."""
        row = self._db.execute(
            f"SELECT {PARCEL_COLUMNS} FROM parcels WHERE label = ? AND owner = ?",  # noqa: S608
            (label, partner),
        ).fetchone()
        return parcel_from_row(row) if row else None

    def partner_parcels(
        self,
        partner: str,
        *,
        state: str | None = None,
        since: float | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 1000,
    ) -> list[ParcelRecord]:
        """The partner's parcels (in `state`, changed at `since` or later), ordered by
        (updated_at, label), at most `limit`, only those past `after` = the last one's
        (updated_at, label): a caller pages on with it. Many parcels change at one moment
        (a manifest, a wave), so a time alone cannot say where a page ended."""
        query = f"SELECT {PARCEL_COLUMNS} FROM parcels WHERE owner = ?"  # noqa: S608
        params: list[Any] = [partner]
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        if since is not None:
            query += " AND updated_at >= ?"
            params.append(since)
        if after is not None:
            query += " AND (updated_at > ? OR (updated_at = ? AND label > ?))"
            params += [after[0], after[0], after[1]]
        rows = self._db.execute(query + " ORDER BY updated_at, label LIMIT ?", (*params, limit))
        return [parcel_from_row(r) for r in rows]


_KEY_COLUMNS = "key_id, partner, secret_hash, scopes, created_at, revoked_at, last_used_at"


def _key(row: Sequence[Any]) -> PartnerKeyRecord:
    return PartnerKeyRecord(
        key_id=row[0],
        partner=row[1],
        secret_hash=row[2],
        scopes=tuple(s for s in str(row[3]).split(",") if s),
        created_at=float(row[4]),
        revoked_at=None if row[5] is None else float(row[5]),
        last_used_at=None if row[6] is None else float(row[6]),
    )
