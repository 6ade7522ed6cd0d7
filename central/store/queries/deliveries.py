"""Home delivery attempts with proofs, the consumers' one-time delivery codes, and couriers'
handheld tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries, upsert
from central.store.queries.parcels import PARCEL_COLUMNS, parcel_from_row
from central.store.records import ParcelRecord


@dataclass(frozen=True)
class DeliveryAttemptRecord:
    """One attempt at a consumer's door, as the courier's handheld reported it.

    `outcome` is "delivered" or "failed"; a delivered one has `proof_kind` ("code",
    "photo", "signature") and, for a photo or a signature, `proof_ref` (the handheld's
    reference to it; a code is never stored); a failed one has `reason` (nobody_home,
    address_not_found, refused). `attempt_key` is the handheld's key for the call: unique, so
    a retried call finds the attempt it already made. `at` is Unix s."""

    label: str
    courier: str
    at: float
    outcome: str
    attempt_key: str
    source: str
    reason: str | None = None
    proof_kind: str | None = None
    proof_ref: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class DeliveryCodeRecord:
    """The consumer's one-time code for a parcel out for home delivery: its SHA-256 (hex,
    over the label and the code), the courier it went out with, and its validity (Unix s)."""

    label: str
    code_hash: str
    courier: str
    issued_at: float
    expires_at: float


@dataclass(frozen=True)
class CourierTokenRecord:
    """A courier's handheld token: only the SHA-256 of its secret is kept (hex)."""

    token_id: str
    courier: str
    partner: str
    secret_hash: str
    created_at: float
    revoked_at: float | None = None


_ATTEMPT_COLUMNS = (
    "id, label, courier, at, outcome, reason, proof_kind, proof_ref, attempt_key, source"
)
_TOKEN_COLUMNS = "token_id, courier, partner, secret_hash, created_at, revoked_at"  # noqa: S105


def _attempt(row: Any) -> DeliveryAttemptRecord:
    return DeliveryAttemptRecord(
        id=int(row[0]),
        label=row[1],
        courier=row[2],
        at=float(row[3]),
        outcome=row[4],
        reason=row[5],
        proof_kind=row[6],
        proof_ref=row[7],
        attempt_key=row[8],
        source=row[9],
    )


def _token(row: Any) -> CourierTokenRecord:
    return CourierTokenRecord(
        token_id=row[0],
        courier=row[1],
        partner=row[2],
        secret_hash=row[3],
        created_at=float(row[4]),
        revoked_at=None if row[5] is None else float(row[5]),
    )


class DeliveryQueries(Queries):
    """The SQL of home delivery attempts, delivery codes and couriers' handheld tokens."""

    # ---- attempts

    def add_delivery_attempt(self, record: DeliveryAttemptRecord) -> bool:
        """Record an attempt; False (nothing written) if its attempt key is taken."""
        cursor = self._db.execute(
            """INSERT INTO delivery_attempts (label, courier, at, outcome, reason, proof_kind,
                proof_ref, attempt_key, source) VALUES (?,?,?,?,?,?,?,?,?)
                ON CONFLICT (attempt_key) DO NOTHING""",
            (
                record.label,
                record.courier,
                record.at,
                record.outcome,
                record.reason,
                record.proof_kind,
                record.proof_ref,
                record.attempt_key,
                record.source,
            ),
        )
        return cursor.rowcount == 1

    def delivery_attempt(self, attempt_key: str) -> DeliveryAttemptRecord | None:
        row = self._db.execute(
            f"SELECT {_ATTEMPT_COLUMNS} FROM delivery_attempts WHERE attempt_key = ?",  # noqa: S608 - names only
            (attempt_key,),
        ).fetchone()
        return _attempt(row) if row else None

    def delivery_attempts(self, label: str) -> list[DeliveryAttemptRecord]:
        rows = self._db.execute(
            f"SELECT {_ATTEMPT_COLUMNS} FROM delivery_attempts WHERE label = ? ORDER BY at, id",  # noqa: S608 - names only
            (label,),
        )
        return [_attempt(r) for r in rows]

    def delivery_outcomes(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT outcome, COUNT(*) FROM delivery_attempts GROUP BY outcome ORDER BY outcome"
        )
        return {r[0]: int(r[1]) for r in rows}

    def courier_round(
        self, courier: str, states: list[str], limit: int = 1000
    ) -> list[ParcelRecord]:
        """The home-delivery parcels assigned to `courier` in `states`, by label."""
        marks = ",".join("?" * len(states))
        rows = self._db.execute(
            f"""SELECT {PARCEL_COLUMNS} FROM parcels WHERE courier = ? AND delivery_mode = 'home'
                AND state IN ({marks}) ORDER BY label LIMIT ?""",  # noqa: S608 - marks only
            (courier, *states, limit),
        )
        return [parcel_from_row(r) for r in rows]

    def home_delivery_figures(self) -> dict[str, int]:
        """Home parcels by how their delivery ended so far: "delivered" (at the door),
        "failed_redirected" (a failed attempt, then sent to a locker or collection point),
        "failed_returned" (a failed attempt, then back to the partner)."""
        row = self._db.execute(
            """SELECT
                COUNT(DISTINCT CASE WHEN step = 'deliver' THEN label END),
                COUNT(DISTINCT CASE WHEN step = 'redirect' THEN label END),
                COUNT(DISTINCT CASE WHEN step = 'return' AND before = 'attempt_failed'
                    THEN label END)
                FROM parcel_steps WHERE step IN ('deliver', 'redirect', 'return')"""
        ).fetchone()
        return {
            "delivered": int(row[0]),
            "failed_redirected": int(row[1]),
            "failed_returned": int(row[2]),
        }

    # ---- the consumers' one-time codes

    def set_delivery_code(self, record: DeliveryCodeRecord) -> None:
        self._db.execute(
            upsert(
                "delivery_codes",
                "label, code_hash, courier, issued_at, expires_at",
                ("label",),
            ),
            (record.label, record.code_hash, record.courier, record.issued_at, record.expires_at),
        )

    def delivery_code(self, label: str) -> DeliveryCodeRecord | None:
        row = self._db.execute(
            """SELECT label, code_hash, courier, issued_at, expires_at FROM delivery_codes
                WHERE label = ?""",
            (label,),
        ).fetchone()
        if row is None:
            return None
        return DeliveryCodeRecord(row[0], row[1], row[2], float(row[3]), float(row[4]))

    def drop_delivery_code(self, label: str) -> None:
        self._db.execute("DELETE FROM delivery_codes WHERE label = ?", (label,))

    # ---- handheld tokens

    def add_courier_token(self, record: CourierTokenRecord) -> None:
        self._db.execute(
            f"INSERT INTO courier_tokens ({_TOKEN_COLUMNS}) VALUES (?,?,?,?,?,?)",  # noqa: S608 - names only
            (
                record.token_id,
                record.courier,
                record.partner,
                record.secret_hash,
                record.created_at,
                record.revoked_at,
            ),
        )

    def get_courier_token(self, token_id: str) -> CourierTokenRecord | None:
        row = self._db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM courier_tokens WHERE token_id = ?",  # noqa: S608 - names only
            (token_id,),
        ).fetchone()
        return _token(row) if row else None

    def revoke_courier_token(self, token_id: str, at: float) -> bool:
        cursor = self._db.execute(
            "UPDATE courier_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
            (at, token_id),
        )
        return cursor.rowcount == 1
