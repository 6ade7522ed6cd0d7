"""Notifications to consumers (e-mail, SMS) and opt-outs.

A notification is written in the transaction of the step that causes it, once per (label,
message, step_key, channel): queuing it again writes nothing. Claiming due rows moves their
`due_at` to the end of the claimant's lease, so no other sender takes them meanwhile, and a
sender that died mid-send leaves them due again once the lease runs out (the SMS provider
gets the same idempotency key, the row's id, and does not send twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries
from protocols.limits import fit_text


@dataclass(frozen=True)
class NewNotification:
    """A message to queue: to `recipient` (an e-mail address or an E.164 number) on
    `channel` ("email" | "sms"), due at `due_at` (Unix s; after the quiet hours)."""

    label: str
    message: str
    step_key: str
    channel: str
    recipient: str
    language: str
    subject: str | None
    body: str
    created_at: float
    due_at: float
    # A pickup code's token, for an e-mail's QR image (None: no image).
    qr_text: str | None = None


@dataclass(frozen=True)
class NotificationRecord:
    """A queued message and how its sending went: "pending" (due at `due_at`), "sent" (at
    `sent_at`; `provider_ref` is the provider's id for it) or "failed" (given up)."""

    id: int
    label: str
    message: str
    step_key: str
    channel: str
    recipient: str
    language: str
    subject: str | None
    body: str
    created_at: float
    due_at: float
    attempts: int
    sent_at: float | None
    failed_at: float | None
    last_error: str | None
    provider_ref: str | None
    qr_text: str | None = None  # None once sent or given up

    @property
    def status(self) -> str:
        if self.sent_at is not None:
            return "sent"
        return "pending" if self.failed_at is None else "failed"

    def __repr__(self) -> str:
        # The body holds a pickup code and the recipient a person's address: not for logs.
        return f"NotificationRecord(id={self.id}, {self.label}, {self.message}, {self.channel})"


_COLUMNS = (
    "id, label, message, step_key, channel, recipient, language, subject, body, created_at, "
    "due_at, attempts, sent_at, failed_at, last_error, provider_ref, qr_text"
)


def _record(row: Any) -> NotificationRecord:
    return NotificationRecord(
        id=int(row[0]),
        label=row[1],
        message=row[2],
        step_key=row[3],
        channel=row[4],
        recipient=row[5],
        language=row[6],
        subject=row[7],
        body=row[8],
        created_at=row[9],
        due_at=row[10],
        attempts=int(row[11]),
        sent_at=row[12],
        failed_at=row[13],
        last_error=row[14],
        provider_ref=row[15],
        qr_text=row[16],
    )


class NotificationQueries(Queries):
    """The SQL of notifications to consumers (e-mail, SMS) and opt-outs."""

    # ------------------------------------------------------------------ the queue

    def add_notification(self, row: NewNotification) -> int:
        """Queue a message; 1 if written, 0 if the same (label, message, step_key, channel)
        is queued already."""
        cursor = self._db.execute(
            """INSERT INTO notifications (label, message, step_key, channel, recipient,
                    language, subject, body, created_at, due_at, qr_text)
                VALUES (?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT (label, message, step_key, channel) DO NOTHING""",
            (
                row.label,
                row.message,
                row.step_key,
                row.channel,
                row.recipient,
                row.language,
                row.subject,
                row.body,
                row.created_at,
                row.due_at,
                row.qr_text,
            ),
        )
        return max(cursor.rowcount, 0)

    def notifications(self, label: str | None = None, limit: int = 200) -> list[NotificationRecord]:
        """Queued messages (of one parcel, if given), oldest first."""
        where, args = ("WHERE label = ?", [label]) if label is not None else ("", [])
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM notifications {where} ORDER BY id LIMIT ?",  # noqa: S608 - fixed text
            [*args, limit],
        )
        return [_record(r) for r in rows]

    def notification_counts(self) -> dict[tuple[str, str], int]:
        """How many messages are in each (channel, status): status "sent", "failed",
        "pending"."""
        rows = self._db.execute(
            """SELECT channel, CASE WHEN sent_at IS NOT NULL THEN 'sent'
                    WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END AS status,
                    COUNT(*) FROM notifications GROUP BY channel, status"""
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def next_notification_due(self) -> float | None:
        """When the earliest unsent message is due (Unix s); None if none waits."""
        row = self._db.execute(
            "SELECT MIN(due_at) FROM notifications WHERE sent_at IS NULL AND failed_at IS NULL"
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def claim_notifications(
        self, now: float, lease_until: float, limit: int
    ) -> list[NotificationRecord]:
        """Take up to `limit` messages due at `now` until `lease_until`, oldest due first:
        no other sender gets them before the lease runs out. Returned as they were before
        the claim (their `due_at` the original)."""
        rows = self._db.execute(
            f"""SELECT {_COLUMNS} FROM notifications WHERE sent_at IS NULL
                AND failed_at IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?""",  # noqa: S608 - fixed text
            (now, limit),
        ).fetchall()
        claimed: list[NotificationRecord] = []
        for row in rows:
            record = _record(row)
            # Taken only if nobody took it since the read (a PostgreSQL sender beside us).
            cursor = self._db.execute(
                """UPDATE notifications SET due_at = ? WHERE id = ? AND due_at = ?
                    AND sent_at IS NULL AND failed_at IS NULL""",
                (lease_until, record.id, record.due_at),
            )
            if cursor.rowcount == 1:
                claimed.append(record)
        return claimed

    def notification_sent(self, notification: int, at: float, provider_ref: str | None) -> None:
        """Accepted by the SMTP server or the SMS provider: never sent again."""
        self._db.execute(
            """UPDATE notifications SET sent_at = ?, attempts = attempts + 1,
                provider_ref = ?, last_error = NULL, qr_text = NULL
                WHERE id = ? AND sent_at IS NULL AND failed_at IS NULL""",
            (at, provider_ref, notification),
        )

    def notification_retry(self, notification: int, due_at: float, error: str) -> None:
        """An attempt failed and may succeed later: due again at `due_at`."""
        self._db.execute(
            """UPDATE notifications SET due_at = ?, attempts = attempts + 1, last_error = ?
                WHERE id = ? AND sent_at IS NULL AND failed_at IS NULL""",
            (due_at, fit_text(error), notification),
        )

    def notification_failed(self, notification: int, at: float, error: str) -> None:
        """Given up: a bad address, or out of attempts; never sent."""
        self._db.execute(
            """UPDATE notifications SET failed_at = ?, attempts = attempts + 1, last_error = ?,
                qr_text = NULL WHERE id = ? AND sent_at IS NULL AND failed_at IS NULL""",
            (at, fit_text(error), notification),
        )

    # ------------------------------------------------------------------ opt-outs

    def is_opted_out(self, channel: str, recipient: str) -> bool:
        """True if `recipient` (normal form) asked for no more messages on `channel`."""
        row = self._db.execute(
            "SELECT 1 FROM notification_opt_outs WHERE channel = ? AND recipient = ?",
            (channel, recipient),
        ).fetchone()
        return row is not None

    def add_opt_out(self, channel: str, recipient: str, at: float) -> bool:
        """Record an opt-out; False if it was recorded already. Messages still queued to
        the recipient on the channel are given up ("opted out")."""
        cursor = self._db.execute(
            """INSERT INTO notification_opt_outs (channel, recipient, at) VALUES (?,?,?)
                ON CONFLICT (channel, recipient) DO NOTHING""",
            (channel, recipient, at),
        )
        self._db.execute(
            """UPDATE notifications SET failed_at = ?, last_error = 'opted out', qr_text = NULL
                WHERE channel = ? AND recipient = ? AND sent_at IS NULL AND failed_at IS NULL""",
            (at, channel, recipient),
        )
        return cursor.rowcount == 1

    def remove_opt_out(self, channel: str, recipient: str) -> bool:
        """Take an opt-out back (the consumer wants messages again); False if none."""
        cursor = self._db.execute(
            "DELETE FROM notification_opt_outs WHERE channel = ? AND recipient = ?",
            (channel, recipient),
        )
        return cursor.rowcount == 1
