"""The webhooks' outbox: a partner's parcel took a step, so a message is due to each of the
partner's endpoints, written in the same transaction as the step (a transactional outbox:
the step and its messages are committed together or not at all).

A message's id is derived from the step itself (parcel, step, time, source: the source
names the site and its event's sequence number), so a step applied again (an event
replayed) makes the same id, and the outbox's unique (endpoint, message id) keeps one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from central.parcels.lifecycle import ParcelStep
from central.store import ParcelRecord, StepRecord, StoreSession

MESSAGE_ID_PREFIX = "msg_"

# The message type of each step a partner hears of. A pickup code sent (NOTIFY) changes
# nothing the partner tracks: no message.
EVENT_TYPES: dict[ParcelStep, str] = {
    ParcelStep.ANNOUNCE: "parcel.announced",
    ParcelStep.ASSIGN: "parcel.assigned",
    ParcelStep.HAND_TO_COURIER: "parcel.out_for_delivery",
    ParcelStep.DEPOSIT: "parcel.ready_for_pickup",
    ParcelStep.REMIND: "parcel.reminded",
    ParcelStep.PICK_UP: "parcel.collected",
    ParcelStep.EXPIRE: "parcel.expired",
    ParcelStep.REMOVE: "parcel.removed",
    ParcelStep.REDELIVER: "parcel.redelivered",
    ParcelStep.RETURN: "parcel.returned",
    ParcelStep.RESERVATION_LAPSED: "parcel.reservation_lapsed",
    ParcelStep.FLAG_EXCEPTION: "parcel.exception",
    ParcelStep.RESOLVE: "parcel.resolved",
    # The journey before Singapore, home delivery and returns: a partner hears each too.
    ParcelStep.MILESTONE: "parcel.milestone",
    ParcelStep.LOSE: "parcel.lost",
    ParcelStep.RETURN_TO_ORIGIN: "parcel.returned_to_origin",
    ParcelStep.DELIVER: "parcel.delivered",
    ParcelStep.FAIL_ATTEMPT: "parcel.delivery_failed",
    ParcelStep.REDIRECT: "parcel.redirected",
    ParcelStep.ISSUE_RETURN: "return.issued",
    ParcelStep.DROP_OFF_RETURN: "return.dropped_off",
    ParcelStep.COLLECT_RETURN: "return.collected",
    ParcelStep.RECEIVE_RETURN: "return.received",
}
ALL_EVENT_TYPES: tuple[str, ...] = tuple(EVENT_TYPES.values())


def iso_time(unix_s: float) -> str:
    """Unix seconds as ISO 8601 in UTC with a Z (the Standard Webhooks payload's form)."""
    moment = datetime.fromtimestamp(unix_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_id(step: StepRecord) -> str:
    """The step's message id: the same for the same step, however often it is recorded."""
    key = f"{step.label}|{step.step}|{step.at!r}|{step.source}"
    return MESSAGE_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def message_body(record: ParcelRecord, step: StepRecord, event_type: str) -> str:
    """The JSON body: {type, timestamp, data: {label, state, step, at, site}}. Never a
    consumer's contact details (they are not in it to leak)."""
    body = {
        "type": event_type,
        "timestamp": iso_time(step.recorded_at),
        "data": {
            "label": record.label,
            "state": str(step.after),
            "step": str(step.step),
            "at": iso_time(step.at),
            "site": record.site,
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def enqueue_step(session: StoreSession, record: ParcelRecord, step: StepRecord) -> None:
    """Queue the step's message to its owner's endpoints, in `session`'s transaction.
    Nothing for a parcel no partner owns, or a step that has no message type."""
    event_type = EVENT_TYPES.get(step.step)
    if record.owner is None or event_type is None:
        return
    session.enqueue_webhook(
        record.owner,
        message_id(step),
        event_type,
        message_body(record, step, event_type),
        step.recorded_at,
    )
