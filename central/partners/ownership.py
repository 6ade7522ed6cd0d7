"""Who owns a label, in the store: partners' label ranges registered and removed, the policy
a manifest is checked against, and a squatted parcel moved to its rightful owner.

The rules themselves are central/partners/label_ranges.py (pure); this is their store edge.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from central.parcels.manifest import LabelCheck
from central.partners.keys import PartnerError, known_partner
from central.partners.label_ranges import LabelPolicy, LabelRange
from central.store import StoreSession, StoreView
from central.store.open import open_store
from central.store.queries.audit import AuditEntry
from central.store.queries.partners import LabelRangeRecord
from protocols.errors import LabelError
from protocols.labels import parse_label

if TYPE_CHECKING:
    from central.service.config import StoreConfig

log = logging.getLogger(__name__)

# The audit log's action for a parcel moved to another partner.
REASSIGN_ACTION = "reassign parcel"
# The lock (a site lock's key: no site id has a colon) every range registration takes.
RANGES_LOCK = "partner:label-ranges"
# Other partners' parcels listed per range of a partner's (the operator reassigns them).
SQUATTED_SHOWN = 20


def label_policy(view: StoreView) -> LabelPolicy:
    """Every partner's registered ranges, as the policy a manifest is checked against."""
    return LabelPolicy((r.partner, LabelRange.parse(r.pattern)) for r in view.label_ranges())


def add_ranges(
    session: StoreSession, partner: str, ranges: list[LabelRange], now: float
) -> list[LabelRangeRecord]:
    """Register `ranges` to a known partner; returns those new to it (one it holds already
    is no change). PartnerError, nothing written, if the partner is unknown or a range
    overlaps one of another partner's (which is named: the operator reads it)."""
    known_partner(session, partner)
    # One registration at a time across central processes: two overlapping ranges that are
    # not the same pattern would each pass the other's uncommitted check (PostgreSQL's
    # READ COMMITTED; SQLite serialises writers anyway). Not a site: the name has a colon.
    session.lock_site(RANGES_LOCK)
    policy = label_policy(session)
    for label_range in ranges:
        holder = policy.overlapping(partner, label_range)
        if holder is not None:
            raise PartnerError(
                f"label range {label_range.text} overlaps a range of partner {holder} "
                f"(lockernet partner ranges {holder}); nothing was changed"
            )
    held = {r.pattern for r in session.label_ranges(partner)}
    added: list[LabelRangeRecord] = []
    for label_range in ranges:
        if label_range.text in held:
            continue
        record = LabelRangeRecord(pattern=label_range.text, partner=partner, added_at=now)
        if not session.add_label_range(record):
            # The pattern's primary key: the last guard, should the lock ever be skipped.
            raise PartnerError(
                f"label range {label_range.text} is registered to another partner; "
                "nothing was changed"
            )
        added.append(record)
    return added


def squatted(
    view: StoreView, partner: str, ranges: list[LabelRange], limit: int = SQUATTED_SHOWN
) -> list[tuple[str, str]]:
    """(label, owner) of parcels in `ranges` that other partners announced (before the
    ranges were registered), at most `limit` per range: each is a case for `reassign`."""
    found: list[tuple[str, str]] = []
    for label_range in ranges:
        rows = view.others_parcels_like(partner, label_range.like, limit)
        found += [(label, owner) for label, owner in rows if label_range.matches(label)]
    return found


def remove_ranges(session: StoreSession, partner: str, ranges: list[LabelRange]) -> None:
    """Remove ranges from a known partner; PartnerError, nothing removed, naming a range
    the partner does not hold."""
    known_partner(session, partner)
    held = {r.pattern for r in session.label_ranges(partner)}
    for label_range in ranges:
        if label_range.text not in held:
            raise PartnerError(
                f"partner {partner} has no label range {label_range.text}; nothing was changed"
            )
    for label_range in ranges:
        session.remove_label_range(partner, label_range.text)


@dataclass(frozen=True)
class Reassigned:
    """A parcel moved from `before` (None: nobody's) to partner `after`."""

    label: str
    before: str | None
    after: str
    audit_id: int


def reassign(session: StoreSession, label: str, to: str, actor: str, now: float) -> Reassigned:
    """Make partner `to` the owner of parcel `label` (its tracking and its later steps'
    webhooks are then `to`'s, no longer the previous owner's), with an audit entry by
    `actor` and a log line. PartnerError, nothing changed, for a malformed or unknown label,
    an unknown partner, or a parcel `to` owns already."""
    try:
        label = parse_label(label).id
    except LabelError as exc:
        raise PartnerError(f"label: {exc}") from None
    known_partner(session, to)
    record = session.get_parcel(label)
    if record is None:
        raise PartnerError(f"no parcel {label} (lockernet track {label})")
    if record.owner == to:
        raise PartnerError(f"parcel {label} is partner {to}'s already")
    # updated_at: the new owner's "changed since" listing shows it.
    session.save_parcel(dataclasses.replace(record, owner=to, updated_at=now))
    audit_id = session.add_audit(
        AuditEntry(
            at=now,
            actor=actor,
            role="operator",
            action=REASSIGN_ACTION,
            reason=f"owner {record.owner or '(none)'} -> {to}",
            outcome="done",
            target=label,
        )
    )
    log.warning(
        "parcel %s moved from partner %s to partner %s by %s (audit entry %d)",
        label,
        record.owner or "(none)",
        to,
        actor,
        audit_id,
    )
    return Reassigned(label=label, before=record.owner, after=to, audit_id=audit_id)


def import_check(store_config: StoreConfig, partner: str) -> LabelCheck:
    """The label check of `lockernet parcels import --partner`: the partner must be known
    (PartnerError otherwise), and its manifest's labels pass the label ranges."""
    store = open_store(store_config)
    try:
        with store.transaction() as session:
            known_partner(session, partner)
            policy = label_policy(session)
    finally:
        store.close()
    return policy.check_for(partner)
