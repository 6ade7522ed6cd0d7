"""Consumers' returns: a label issued for a partner, dropped off at a site, collected by a
courier, received back by the partner.

A return label is a protocols.tokens ReturnLabel signed with central's key, so a site checks
it offline (for that site or any, not expired) and uses it once. Issuing it registers the
return parcel (kind "return", its own label) in RETURN_ISSUED. The site's ReturnDroppedOff
takes it to RETURN_DROPPED_OFF, writes the consumer's receipt (a RETURN_RECEIVED message with
the receipt number) and orders it collected the way an expired parcel is removed (a removal
and a MarkForRemoval, reason "return"); the courier taking it out is COLLECT_RETURN, and the
partner's confirmation (partner API or `lockernet returns receive`) is RECEIVE_RETURN:
back with the partner.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from dataclasses import dataclass

from central.errors import CentralError, IllegalTransition
from central.notify import MessageKind, queue_notification
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.steps import report_fact, take_step
from central.sites.commands import queue_command
from central.store import Contact, ParcelRecord, RemovalRecord, StoreSession
from central.store.queries.returns import ReturnLabelRecord
from protocols.errors import LabelError
from protocols.labels import parse_label
from protocols.limits import IDENT_PATTERN
from protocols.messages import (
    Event,
    MarkForRemoval,
    ParcelRemoved,
    RemovalReason,
    ReturnDroppedOff,
    SizeClass,
    SlotState,
)
from protocols.tokens import ANY_SITE, NONCE_LENGTH, ReturnLabel, TokenSigner, short_form

__all__ = [
    "RETURN_KIND",
    "IssuedReturn",
    "ReturnError",
    "UnknownReturn",
    "collected",
    "dropped_off",
    "issue_return",
    "receive_return",
]

RETURN_KIND = "return"  # ParcelRecord.kind of a consumer's return
DAY_S = 86_400
# How long a consumer has to drop a return off: a partner's returns window is commonly two
# weeks; longer than a quarter outlives the sale it belongs to.
DEFAULT_VALID_DAYS = 14.0
MAX_VALID_DAYS = 90.0
# The label's times are 32-bit Unix seconds (protocols.tokens packs them as u32).
MAX_TOKEN_TIME = 2**32 - 1
_IDENT = re.compile(IDENT_PATTERN)


class ReturnError(CentralError):
    """A return that cannot be issued or received as asked; the message says why."""


class UnknownReturn(ReturnError):
    """A label central issued no return for (or, to a partner, another partner's)."""

    def __init__(self, label: str) -> None:
        self.label = label
        super().__init__(f"return {label} is not known (lockernet returns list shows them)")


@dataclass(frozen=True)
class IssuedReturn:
    """A return as issued: `text` is what the consumer shows the scanner (LNR:...), `code`
    its short form, `record` the register entry."""

    text: str
    code: str
    record: ReturnLabelRecord


def issue_return(
    session: StoreSession,
    signer: TokenSigner,
    *,
    label: str,
    partner: str,
    size: str,
    site: str | None,
    now: float,
    return_of: str | None = None,
    contact: Contact | None = None,
    days: float = DEFAULT_VALID_DAYS,
    source: str = "central",
) -> IssuedReturn:
    """Sign a return label for `partner`'s return parcel `label` of `size` (a SizeClass
    value), droppable at `site` (None: any site) for `days`, and register the return parcel
    (RETURN_ISSUED), in the caller's transaction. `return_of`: the delivered parcel it sends
    back (its consumer's contact is the return's, unless `contact` is given). Raises
    ReturnError naming the bad value; nothing is written then."""
    try:
        label = parse_label(label).id
    except LabelError as exc:
        raise ReturnError(f"label {label!r}: {exc}") from None
    if not _IDENT.match(partner):
        raise ReturnError(f"partner {partner!r} must be 1-64 letters, digits or _.:-")
    if size not in {s.value for s in SizeClass}:
        raise ReturnError(f"size {size!r} is not one of {', '.join(s.value for s in SizeClass)}")
    if not 0 < days <= MAX_VALID_DAYS:
        raise ReturnError(f"days {days:g} must be more than 0 and at most {MAX_VALID_DAYS:g}")
    if site is not None and session.get_site(site) is None:
        raise ReturnError(f"site {site} is not known (lockernet sites lists them)")
    if session.get_parcel(label) is not None:
        raise ReturnError(f"label {label} is a parcel central knows already: use a new label")
    original = None if return_of is None else session.get_parcel(return_of)
    if return_of is not None and (original is None or original.owner not in (None, partner)):
        raise ReturnError(f"return_of {return_of}: no such parcel of partner {partner}")
    expires_at = int(now + days * DAY_S)
    if expires_at > MAX_TOKEN_TIME:
        raise ReturnError(f"days {days:g}: the label would expire after 2106")
    token = ReturnLabel(
        return_id=f"ret-{secrets.token_hex(8)}",
        label=label,
        site=site or ANY_SITE,
        size=size,
        expires_at=expires_at,
        nonce=os.urandom(NONCE_LENGTH),
    )
    text = signer.return_label(token)
    record = ReturnLabelRecord(
        return_id=token.return_id,
        label=label,
        partner=partner,
        size=size,
        issued_at=now,
        expires_at=float(expires_at),
        return_of=return_of,
        site=site,
    )
    session.add_return_label(record)
    parcel = ParcelRecord(
        label=label,
        state=None,
        size=size,
        preferred_site=site,
        contact=contact or (original.contact if original is not None else None),
        partner=partner,
        announced_at=now,
        updated_at=now,
        owner=partner if session.get_partner(partner) is not None else None,
        kind=RETURN_KIND,
        return_of=return_of,
    )
    where = f"at {site}" if site else "at any site"
    take_step(
        session,
        parcel,
        ParcelStep.ISSUE_RETURN,
        at=now,
        source=source,
        now=now,
        detail=f"return {token.return_id} for {partner}, size {size}, {where}",
    )
    return IssuedReturn(text, short_form(text), record)


def receipt_number(return_id: str, site: str) -> str:
    """The consumer's receipt number for a return dropped off at `site`: short and stable (a
    replayed event writes the same one), e.g. "R-7KQ2-M9XD"."""
    return "R-" + short_form(f"{return_id}@{site}")


def dropped_off(
    session: StoreSession, event: Event, payload: ReturnDroppedOff, source: str, now: float
) -> None:
    """A site's ReturnDroppedOff, in the ingest transaction: the return is dropped off
    (DROP_OFF_RETURN), its receipt written and sent, a courier ordered to collect it. A
    return central never issued is an exception for an operator, not a lost fact."""
    site, label = event.site, payload.label
    issued = session.get_return_label(payload.return_id)
    record = session.get_parcel(label)
    if issued is None or issued.label != label or record is None:
        unknown = record or ParcelRecord(label=label, state=None, updated_at=now)
        report_fact(
            session,
            unknown,
            ParcelStep.FLAG_EXCEPTION,
            at=event.at,
            source=source,
            now=now,
            detail=f"return {payload.return_id} dropped off at {site} {payload.slot}, "
            "but central never issued it",
            site=site,
            slot=payload.slot,
        )
        return
    receipt = receipt_number(issued.return_id, site)
    session.set_return_dropped(
        issued.return_id, site=site, slot=payload.slot, at=event.at, receipt=receipt
    )
    slot = session.get_slot(site, payload.slot)
    if slot is not None:
        session.save_slot(
            dataclasses.replace(
                slot, state=SlotState.OCCUPIED, parcel=label, occupied=True, updated_at=event.at
            )
        )
    updated = report_fact(
        session,
        record,
        ParcelStep.DROP_OFF_RETURN,
        at=event.at,
        source=source,
        now=now,
        detail=f"slot {payload.slot}, receipt {receipt}",
        site=site,
        slot=payload.slot,
    )
    if updated.state != ParcelState.RETURN_DROPPED_OFF.value:
        return
    place = session.get_site(site)
    queue_notification(
        session,
        updated,
        MessageKind.RETURN_RECEIVED,
        f"dropped {issued.return_id}",
        now,
        {
            "site": site,
            "site_name": (place.name if place else None) or site,
            "site_kind": place.kind.value if place and place.kind else "locker",
            "receipt": receipt,
            "at": event.at,
        },
    )
    session.add_removal(
        RemovalRecord(
            label=label,
            site=site,
            slot=payload.slot,
            reason=RemovalReason.RETURN.value,
            created_at=now,
        )
    )
    queue_command(
        session,
        site,
        MarkForRemoval(parcels=[label], reason=RemovalReason.RETURN),
        now,
        label=label,
    )


def collected(
    session: StoreSession,
    record: ParcelRecord,
    payload: ParcelRemoved,
    *,
    at: float,
    source: str,
    now: float,
) -> ParcelRecord:
    """A courier took the return `record` out of the site (a ParcelRemoved of a return):
    COLLECT_RETURN, on its way back to the partner."""
    return report_fact(
        session,
        record,
        ParcelStep.COLLECT_RETURN,
        at=at,
        source=source,
        now=now,
        detail=f"by courier {payload.courier} from slot {payload.slot}",
        courier=payload.courier,
        slot=None,
    )


def receive_return(
    session: StoreSession, label: str, *, partner: str | None, source: str, now: float
) -> ParcelRecord:
    """The partner confirms it has the return `label` back: RECEIVE_RETURN (RETURNED).
    `partner`: the partner confirming (None: an operator, for any partner). Raises
    UnknownReturn (not a return, or another partner's) or ReturnError (not collected yet)."""
    record = session.get_parcel(label)
    if record is None or record.kind != RETURN_KIND or partner not in (None, record.partner):
        raise UnknownReturn(label)
    try:
        return take_step(
            session,
            record,
            ParcelStep.RECEIVE_RETURN,
            at=now,
            source=source,
            now=now,
            detail=f"back with {record.partner}",
        )
    except IllegalTransition:
        raise ReturnError(
            f"return {label} is {record.state}: it is received once a courier collected it"
        ) from None
