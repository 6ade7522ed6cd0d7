"""Parcel records: announcing, stepping through the lifecycle, and the tracking timeline.

Every change of state goes through `take_step`, which asks the lifecycle table and writes
the step with the time it happened and who said so. The timeline that `lockernet track`
prints is built here, and it is built from fields that never include the consumer's name,
phone or e-mail: those stay in the record's `contact`, which only the notifier reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from central.errors import IllegalTransition, UnknownParcel
from central.parcels.lifecycle import ParcelState, ParcelStep, advance
from central.parcels.manifest import ParcelAnnouncement
from central.parcels.promise import after_step
from central.partners.outbox import enqueue_step
from central.store import Contact, ParcelRecord, StepRecord, StoreSession

MANIFEST = "manifest"
CENTRAL = "central"


def site_source(site: str, seq: int) -> str:
    """The source of a step a site reported: which site, which event."""
    return f"site {site} event {seq}"


def operator_source(who: str) -> str:
    return f"operator {who}"


def state_of(record: ParcelRecord) -> ParcelState | None:
    return ParcelState(record.state) if record.state else None


def contact_of(announcement: ParcelAnnouncement) -> Contact:
    return Contact(
        name=announcement.consumer_name,
        phone=announcement.consumer_phone,
        email=announcement.consumer_email,
    )


def announce(
    session: StoreSession,
    parcel: ParcelAnnouncement,
    now: float,
    source: str = MANIFEST,
    owner: str | None = None,
    *,
    held: Mapping[str, ParcelRecord] | None = None,
) -> ParcelRecord | None:
    """Record an announced parcel; None if central already knows the label (re-import).
    `owner` is the partner whose manifest announced it (the partner API), else None.
    A parcel known only in transit (from cross-border milestones) is announced now, keeping
    its milestones, its dispatch time from them and its owner (another partner's manifest
    of a partner's parcel in transit is skipped, as a known label is; the operator's
    import announces it). `held`: the parcels of the caller's chunk this transaction holds
    already (a label not in it is one central does not have), instead of reading this one."""
    known = session.get_parcel(parcel.label) if held is None else held.get(parcel.label)
    if known is not None and (
        known.state != ParcelState.IN_TRANSIT
        or (owner is not None and known.owner not in (None, owner))
    ):
        return None
    record = ParcelRecord(
        label=parcel.label,
        state=None if known is None else known.state,
        size=parcel.size.value,
        weight_kg=parcel.weight_kg,
        postal_code=parcel.dest_postal_code,
        lat=parcel.dest_lat,
        lon=parcel.dest_lon,
        delivery_mode=parcel.preferred_mode,
        preferred_site=parcel.preferred_site,
        contact=contact_of(parcel),
        announced_at=now,
        dispatched_at=parcel.dispatched_at,
        updated_at=now,
        owner=owner,
    )
    if known is not None:  # in transit: what the milestones told stays
        record = dataclasses.replace(
            record,
            dispatched_at=known.dispatched_at or parcel.dispatched_at,
            owner=known.owner or owner,
            milestone=known.milestone,
        )
    return take_step(session, record, ParcelStep.ANNOUNCE, at=now, source=source, now=now)


def take_step(
    session: StoreSession,
    record: ParcelRecord,
    step: ParcelStep,
    *,
    at: float,
    source: str,
    now: float,
    detail: str | None = None,
    **changes: object,
) -> ParcelRecord:
    """Move a parcel by one step of the table and record it; IllegalTransition if not allowed.
    A parcel a partner owns gets the step's webhook messages queued in the same transaction."""
    transition = advance(record.label, state_of(record), step)
    updated = dataclasses.replace(
        record,
        state=transition.after,
        updated_at=now,
        **changes,  # type: ignore[arg-type]
    )
    updated = after_step(session, record, updated, at)
    session.save_parcel(updated)
    recorded = StepRecord(
        label=record.label,
        step=step,
        before=transition.before,
        after=transition.after,
        at=at,
        source=source,
        detail=detail,
        recorded_at=now,
    )
    session.add_step(recorded)
    if updated.owner is not None:
        enqueue_step(session, updated, recorded)
    return updated


def report_fact(
    session: StoreSession,
    record: ParcelRecord,
    step: ParcelStep,
    *,
    at: float,
    source: str,
    now: float,
    detail: str | None = None,
    **changes: object,
) -> ParcelRecord:
    """A site reports something that happened. If the table allows it from the parcel's
    state, take the step; if not, the fact still stands, so the parcel becomes an
    exception with the contradiction written down for an operator."""
    try:
        return take_step(
            session, record, step, at=at, source=source, now=now, detail=detail, **changes
        )
    except IllegalTransition as exc:
        why = f"{step.value} reported while {record.state or 'unknown'}: {detail or exc}"
        return take_step(
            session,
            record,
            ParcelStep.FLAG_EXCEPTION,
            at=at,
            source=source,
            now=now,
            detail=why,
            **changes,
        )


def get(session: StoreSession, label: str) -> ParcelRecord:
    record = session.get_parcel(label)
    if record is None:
        raise UnknownParcel(label)
    return record
