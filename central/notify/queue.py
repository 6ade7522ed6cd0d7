"""Queuing a consumer's message: one row per channel the consumer can be reached on.

A message is written in the caller's transaction, beside the step that caused it (an
outbox): a rolled-back step queues nothing, and nothing is sent here. The notifications
table is unique on (label, message, step_key, channel), so queuing the same message for the
same step again (a retried task, a replayed event) writes nothing. A sender
(central.notify.sender) delivers the due rows.

A row's body is the message as sent, secrets and all: a pickup code's short form, and the
OUT_FOR_DELIVERY message's one-time door code, whose only plain copy this is (the delivery
store keeps its hash). The table therefore holds that code until the row is pruned; it is
kept after sending, like the short forms, because it is worthless by then (it expires with
the day's round and is dropped at the attempt) and the row stays the record of what the
consumer was told. Nothing logs a body (NotificationRecord's repr leaves it out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from central.notify.code_links import CodeLinks
from central.notify.kinds import Channel, MessageKind
from central.notify.quiet import DEFAULT_QUIET_HOURS, QuietHours
from central.notify.recipients import recipient_for
from central.notify.templates import render
from central.notify.wording import language_of
from central.store.queries.notifications import NewNotification

if TYPE_CHECKING:
    from central.store import ParcelRecord, StoreSession

__all__ = ["Channel", "MessageKind", "queue_notification"]


def queue_notification(  # noqa: PLR0917 - the call shape every caller was given
    session: StoreSession,
    parcel: ParcelRecord,
    message: MessageKind,
    step_key: str,
    now: float,
    facts: Mapping[str, str | float | None],
    *,
    quiet: QuietHours = DEFAULT_QUIET_HOURS,
    links: CodeLinks | None = None,
) -> int:
    """Queue `message` about `parcel` to its consumer; returns how many rows were written.

    One row per channel the parcel's contact has (e-mail, SMS), in the contact's language
    (English by default), skipping a recipient who opted out of that channel. `step_key`
    names what caused it (a code id, a step's time): the same (label, message, step_key,
    channel) is queued once. A message made during the quiet hours is due at their end.
    `facts`: see central.notify.templates.render (e.g. "short_form", "site_name",
    "site_kind", "until" (Unix s), "reason"); "code", a pickup code's token, is attached to
    the e-mail as its QR image. With `links` (the deployment's [notify] public_url), a
    consumer no e-mail reaches gets in the SMS a link to the code's QR page, made from the
    fact "code_id". Raises MissingFact (a ValueError) naming a fact the message needs that
    is absent; nothing is written then."""
    contact = parcel.contact
    if contact is None:
        return 0
    reached: list[tuple[Channel, str]] = []
    for channel, address in ((Channel.EMAIL, contact.email), (Channel.SMS, contact.phone)):
        recipient = recipient_for(channel, address)
        if recipient is not None and not session.is_opted_out(channel.value, recipient):
            reached.append((channel, recipient))
    language = language_of(contact.language)
    code_id = facts.get("code_id")
    sms_only = [channel for channel, _ in reached] == [Channel.SMS]
    if links is not None and isinstance(code_id, str) and sms_only:
        # The SMS's short form works at a counter, not at a locker's scanner: the page
        # shows the QR the e-mail would have carried.
        facts = {**facts, "code_link": links.url(parcel.label, code_id)}
    texts = render(message, language, parcel.label, facts, name=contact.name, now=now)
    due = quiet.next_allowed(now)
    # A pickup code's token ("code") becomes the e-mail's QR image; an SMS has only the
    # short form (and the link above).
    code = facts.get("code")
    qr = code if isinstance(code, str) else None
    written = 0
    for channel, recipient in reached:
        row = NewNotification(
            label=parcel.label,
            message=message.value,
            step_key=step_key,
            channel=channel.value,
            recipient=recipient,
            language=language,
            subject=texts.subject if channel is Channel.EMAIL else None,
            body=texts.email if channel is Channel.EMAIL else texts.sms,
            created_at=now,
            due_at=due,
            qr_text=qr if channel is Channel.EMAIL else None,
        )
        written += session.add_notification(row)
    return written
