"""Webhook endpoints and the deliveries' outbox (Standard Webhooks).

A delivery is written in the transaction that records its parcel's step (a transactional
outbox), once per endpoint and message id, and is then due until it is delivered or given
up. Claiming a due delivery moves its `next_attempt_at` to the end of the claimant's lease:
no other process sees it due until then, and a process that died mid-send leaves it to be
sent again once the lease runs out (same message id: receivers dedupe by it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries
from protocols.limits import fit_text


@dataclass(frozen=True)
class WebhookEndpointRecord:
    """Where a partner wants its parcels' changes POSTed. `secret` is the signing secret
    ("whsec_" + base64); `event_types` the types it wants, empty for every type."""

    id: int
    partner: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    created_at: float
    disabled_at: float | None = None


@dataclass(frozen=True)
class WebhookDeliveryRecord:
    """One message to one endpoint, and how its delivery went. `status` is "pending"
    (due at `next_attempt_at`), "delivered" or "failed" (given up after `attempts`)."""

    id: int
    endpoint: int
    message_id: str
    event_type: str
    payload: str  # the JSON body, exactly as signed and sent
    created_at: float
    attempts: int
    next_attempt_at: float
    delivered_at: float | None = None
    failed_at: float | None = None
    last_error: str | None = None

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.failed_at is None else "failed"


@dataclass(frozen=True)
class ClaimedDelivery:
    """A due delivery a process holds until `lease_until`, with its endpoint's address."""

    delivery: WebhookDeliveryRecord
    partner: str
    url: str
    secret: str


class WebhookQueries(Queries):
    """The SQL of webhook endpoints and the deliveries' outbox (Standard Webhooks)."""

    # ---------------------------------------------------------------- endpoints

    def add_webhook_endpoint(
        self, partner: str, url: str, secret: str, event_types: Sequence[str], at: float
    ) -> int:
        """Add an endpoint; returns its id."""
        row = self._db.execute(
            """INSERT INTO webhook_endpoints (partner, url, secret, event_types, created_at)
                VALUES (?,?,?,?,?) RETURNING id""",
            (partner, url, secret, ",".join(event_types), at),
        ).fetchone()
        return int(row[0])

    def get_webhook_endpoint(self, endpoint: int) -> WebhookEndpointRecord | None:
        row = self._db.execute(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?",  # noqa: S608
            (endpoint,),
        ).fetchone()
        return _endpoint(row) if row else None

    def webhook_endpoints(
        self, partner: str, include_disabled: bool = False
    ) -> list[WebhookEndpointRecord]:
        """The partner's endpoints, oldest first (the active ones only, by default)."""
        query = f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE partner = ?"  # noqa: S608
        if not include_disabled:
            query += " AND disabled_at IS NULL"
        return [_endpoint(r) for r in self._db.execute(query + " ORDER BY id", (partner,))]

    def disable_webhook_endpoint(self, endpoint: int, at: float) -> bool:
        """Stop an endpoint: nothing more is enqueued for it, and what was still pending is
        given up ("endpoint removed"). False if it is unknown or already disabled."""
        cursor = self._db.execute(
            "UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL",
            (at, endpoint),
        )
        if cursor.rowcount != 1:
            return False
        self._db.execute(
            """UPDATE webhook_deliveries SET failed_at = ?, last_error = 'endpoint removed'
                WHERE endpoint = ? AND delivered_at IS NULL AND failed_at IS NULL""",
            (at, endpoint),
        )
        return True

    # ---------------------------------------------------------------- the outbox

    def enqueue_webhook(
        self, partner: str, message_id: str, event_type: str, payload: str, at: float
    ) -> None:
        """One delivery of a message to each active endpoint of `partner` that wants
        `event_type`, due at once. A message id an endpoint already has is left as it is
        (a step recorded again makes no second message). One statement and no read: a
        write that costs ingest no round trip of its own on a server store."""
        self._db.execute(
            r"""INSERT INTO webhook_deliveries
                    (endpoint, message_id, event_type, payload, created_at, next_attempt_at)
                SELECT id, ?, ?, ?, ?, ? FROM webhook_endpoints
                WHERE partner = ? AND disabled_at IS NULL AND (event_types = ''
                    OR ',' || event_types || ',' LIKE ? ESCAPE '\')
                ON CONFLICT (endpoint, message_id) DO NOTHING""",
            (message_id, event_type, payload, at, at, partner, f"%,{_like(event_type)},%"),
        )

    def webhook_deliveries(
        self, endpoints: Sequence[int], limit: int = 200
    ) -> list[WebhookDeliveryRecord]:
        """The newest `limit` deliveries to `endpoints`, newest first."""
        if not endpoints:
            return []
        marks = ",".join("?" * len(endpoints))
        rows = self._db.execute(
            f"""SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint IN ({marks})
                ORDER BY created_at DESC, id DESC LIMIT ?""",  # noqa: S608 - placeholders only
            (*endpoints, limit),
        )
        return [_delivery(r) for r in rows]

    def claim_webhook_deliveries(
        self, now: float, lease_until: float, limit: int
    ) -> list[ClaimedDelivery]:
        """Take up to `limit` deliveries due at `now` until `lease_until`, oldest due first:
        no other claimant gets them before the lease runs out."""
        ids = self._claim_due_deliveries(now, lease_until, limit)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"""SELECT {_joined(_DELIVERY_COLUMNS)}, e.partner, e.url, e.secret
                FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint
                WHERE d.id IN ({marks}) ORDER BY d.id""",  # noqa: S608 - placeholders only
            ids,
        )
        return [ClaimedDelivery(_delivery(r[:11]), r[11], r[12], r[13]) for r in rows]

    def _claim_due_deliveries(self, now: float, lease_until: float, limit: int) -> list[int]:
        """The claim itself. SQLite lets one writer in at a time, so a plain UPDATE is
        enough; PostgreSQL's session skips rows another claimant holds (SKIP LOCKED)."""
        rows = self._db.execute(
            """UPDATE webhook_deliveries SET next_attempt_at = ?
                WHERE id IN (SELECT id FROM webhook_deliveries WHERE delivered_at IS NULL
                    AND failed_at IS NULL AND next_attempt_at <= ?
                    ORDER BY next_attempt_at, id LIMIT ?)
                RETURNING id""",
            (lease_until, now, limit),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def webhook_delivered(self, delivery: int, at: float) -> None:
        """A 2xx answered: never sent again. A delivery ends once: one already given up
        stays failed."""
        self._db.execute(
            """UPDATE webhook_deliveries SET delivered_at = ?, attempts = attempts + 1,
                last_error = NULL WHERE id = ? AND delivered_at IS NULL AND failed_at IS NULL""",
            (at, delivery),
        )

    def webhook_retry(self, delivery: int, next_attempt_at: float, error: str) -> None:
        """An attempt failed: due again at `next_attempt_at`."""
        self._db.execute(
            """UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?,
                last_error = ? WHERE id = ? AND delivered_at IS NULL AND failed_at IS NULL""",
            (next_attempt_at, fit_text(error), delivery),
        )

    def webhook_failed(self, delivery: int, at: float, error: str) -> None:
        """The last attempt failed: given up, shown as failed."""
        self._db.execute(
            """UPDATE webhook_deliveries SET attempts = attempts + 1, failed_at = ?,
                last_error = ? WHERE id = ? AND delivered_at IS NULL AND failed_at IS NULL""",
            (at, fit_text(error), delivery),
        )

    def requeue_failed_webhooks(self, endpoints: Sequence[int], at: float) -> int:
        """Deliveries to active `endpoints` that were given up: due again at `at`, their
        attempts counted afresh (an operator's call once a receiver is fixed). Returns how
        many."""
        if not endpoints:
            return 0
        marks = ",".join("?" * len(endpoints))
        cursor = self._db.execute(
            f"""UPDATE webhook_deliveries SET failed_at = NULL, attempts = 0,
                next_attempt_at = ? WHERE failed_at IS NOT NULL AND endpoint IN (
                    SELECT id FROM webhook_endpoints WHERE disabled_at IS NULL
                    AND id IN ({marks}))""",  # noqa: S608 - placeholders only
            (at, *endpoints),
        )
        return cursor.rowcount

    def webhook_release(self, delivery: int, due_at: float) -> None:
        """A claimed delivery not tried after all: due again at `due_at`, no attempt counted."""
        self._db.execute(
            """UPDATE webhook_deliveries SET next_attempt_at = ?
                WHERE id = ? AND delivered_at IS NULL AND failed_at IS NULL""",
            (due_at, delivery),
        )


_ENDPOINT_COLUMNS = "id, partner, url, secret, event_types, created_at, disabled_at"
_DELIVERY_COLUMNS = (
    "id, endpoint, message_id, event_type, payload, created_at, attempts, next_attempt_at, "
    "delivered_at, failed_at, last_error"
)


def _joined(columns: str) -> str:
    return ", ".join(f"d.{name.strip()}" for name in columns.split(","))


def _like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _endpoint(row: Sequence[Any]) -> WebhookEndpointRecord:
    return WebhookEndpointRecord(
        id=int(row[0]),
        partner=row[1],
        url=row[2],
        secret=row[3],
        event_types=tuple(t for t in str(row[4]).split(",") if t),
        created_at=float(row[5]),
        disabled_at=_optional(row[6]),
    )


def _delivery(row: Sequence[Any]) -> WebhookDeliveryRecord:
    return WebhookDeliveryRecord(
        id=int(row[0]),
        endpoint=int(row[1]),
        message_id=row[2],
        event_type=row[3],
        payload=row[4],
        created_at=float(row[5]),
        attempts=int(row[6]),
        next_attempt_at=float(row[7]),
        delivered_at=_optional(row[8]),
        failed_at=_optional(row[9]),
        last_error=row[10],
    )
