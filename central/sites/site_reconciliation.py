"""A site's restarted or rewound stream is reconciled with what central holds there, not only
alarmed (issue 11, kind 1).

When a site's store is lost (a spare Pi, a deleted card), the new store knows none of the
reservations central holds there: the next courier's labels would be refused as unknown and
those parcels would stay on the van. A store rolled back (a card that acknowledged writes it
had not made) loses the reservations written with its last transactions. And a parcel central
saw deposited there is unknown to the store: its consumer's code opens nothing, and the site
calls its compartment free, so a courier could be given the compartment with the parcel in it.

At the first snapshot of a restarted or rewound stream (registry.apply_snapshot), central:

- sends again every reservation it holds for the site that the snapshot does not show, as
  the same signed ReserveSlot placement sends (reservations.tell_site). A locker's snapshot
  shows a reservation as a slot reserved for (or holding) the parcel; a counter's lists no
  parcels, so a counter is sent every one (a site answers a repeated one with what it holds).
  Reservations made after central started the new stream were sent to the new store already.
- takes each parcel central believes is waiting at the site (ready for pickup, reminded,
  expired) that the snapshot does not show to a technician's check: the parcel becomes an
  exception for an operator (the expiry and removal sweeps leave it alone), its compartment
  is taken out of service at the site (SetSlotService: no door moves) and in central's view,
  so no courier is given that compartment and no door opens on it until a person has looked
  (a technician's maintenance session opens it, then puts it back in service); one
  PARCELS_UNACCOUNTED alarm names them. Not a removal order: the site refuses to mark a
  parcel it does not know (it answers not_here), and a removal would open the door for a
  courier on the word of a store that is known to have lost what it knew.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from central.capacity.reservations import reserved_size, tell_site
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.steps import CENTRAL, take_step
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.commands import queue_command
from central.store import ParcelRecord, ReservationRecord, StoreSession, StreamCursor
from protocols.messages import SetSlotService, SiteKind, SlotState, StateSnapshot

log = logging.getLogger(__name__)

# Where central believes a deposited parcel still sits in its compartment or on the shelf.
AT_SITE = (ParcelState.READY_FOR_PICKUP, ParcelState.REMINDED, ParcelState.EXPIRED)
# States of a slot in the site's snapshot in which a parcel the site does not know may still
# be behind the door (the site believes the compartment empty).
SITE_CALLS_EMPTY = frozenset({SlotState.FREE, SlotState.RESERVED})
# The alarm's detail names this many parcels, then how many more there are.
PARCELS_LISTED = 12
# Why a compartment is taken out of service (the site's event and slot history show it).
CHECK_REASON = "technician check: parcel {parcel} may be inside (store lost or rolled back)"


@dataclass(frozen=True)
class Unaccounted:
    """A parcel central believes is at the site, which the site's new stream does not show."""

    parcel: str
    slot: str | None  # central's slot for it; None on a counter's shelf
    close_slot: bool  # the site calls that slot empty: take it out of service


@dataclass
class Reconciliation:
    """What a new stream's first snapshot calls for (decided without I/O by `reconcile_plan`)."""

    resend: list[ReservationRecord] = field(default_factory=list)
    unaccounted: list[Unaccounted] = field(default_factory=list)


def reconcile_plan(
    stream: StreamCursor,
    snapshot: StateSnapshot,
    held: list[ReservationRecord],
    at_site: list[ParcelRecord],
) -> Reconciliation:
    """The reservations to send again and the parcels to check, for the first snapshot of a
    restarted or rewound `stream`. `held`: central's held reservations at the site;
    `at_site`: the parcels central believes are waiting there."""
    held_there = {s.parcel for s in snapshot.slots if s.parcel}
    # A reservation is shown by a slot reserved for its parcel (or the parcel already in one).
    shown = held_there | {s.reserved_for for s in snapshot.slots if s.reserved_for}
    started = stream.started_at if stream.started_at is not None else float("inf")
    counter = snapshot.kind is SiteKind.COUNTER
    plan = Reconciliation()
    plan.resend = sorted(
        (
            r
            for r in held
            # Made before central knew of the new stream: sent to the store that was lost.
            if r.created_at <= started and (counter or r.label not in shown)
        ),
        key=lambda r: r.label,
    )
    if counter and stream.cause != "restart":
        # A counter's snapshot names no parcels: only a new store certainly knows none.
        return plan
    slots = {s.slot: s for s in snapshot.slots}
    for parcel in sorted(at_site, key=lambda p: p.label):
        # A slot only reserved for a parcel central saw deposited is a deposit the store lost.
        if parcel.label in held_there:
            continue
        slot = None if counter else parcel.slot  # a counter's parcels are on its shelves
        site_slot = slots.get(slot) if slot else None
        close = site_slot is not None and site_slot.state in SITE_CALLS_EMPTY
        plan.unaccounted.append(Unaccounted(parcel.label, slot, close))
    return plan


def reconcile_stream(
    session: StoreSession, stream: StreamCursor, snapshot: StateSnapshot, now: float
) -> Reconciliation:
    """Act on the first snapshot of a restarted or rewound stream, in the caller's
    transaction, after central's slots were replaced by the snapshot's: queue the commands,
    flag the parcels, raise the alarm. Returns what was done."""
    site = snapshot.site
    held = session.held_reservations(site)
    at_site = [p for p in session.parcels_in_state([s.value for s in AT_SITE]) if p.site == site]
    plan = reconcile_plan(stream, snapshot, held, at_site)
    # Compartments first: a reservation sent again must not be given one of them.
    for item in plan.unaccounted:
        if item.close_slot and item.slot is not None:
            reason = CHECK_REASON.format(parcel=item.parcel)
            queue_command(
                session, site, SetSlotService(slot=item.slot, in_service=False, reason=reason), now
            )
            slot = session.get_slot(site, item.slot)
            if slot is not None:
                session.save_slot(
                    dataclasses.replace(
                        slot,
                        state=SlotState.OUT_OF_SERVICE,
                        reserved_for=None,
                        updated_at=now,
                    )
                )
        record = session.get_parcel(item.parcel)
        if record is not None:
            take_step(
                session,
                record,
                ParcelStep.FLAG_EXCEPTION,
                at=now,
                source=CENTRAL,
                now=now,
                detail=f"after the {stream.cause} of {site}'s event stream the site no longer "
                f"knows the parcel"
                + (f"; a technician to check {item.slot}" if item.slot else "; staff to check"),
            )
    for reservation in plan.resend:
        parcel = session.get_parcel(reservation.label)
        tell_site(session, reservation, reserved_size(reservation, parcel), now)
    if plan.resend:
        log.warning(
            "site %s: %s reservation(s) sent again after the %s of its stream",
            site,
            len(plan.resend),
            stream.cause,
        )
    if plan.unaccounted:
        _raise_unaccounted(session, stream, plan, now)
    return plan


def _raise_unaccounted(
    session: StoreSession, stream: StreamCursor, plan: Reconciliation, now: float
) -> None:
    items = [f"{u.parcel} ({u.slot or 'shelf'})" for u in plan.unaccounted]
    shown = ", ".join(items[:PARCELS_LISTED])
    more = len(items) - PARCELS_LISTED
    closed = [u.slot for u in plan.unaccounted if u.close_slot and u.slot]
    raise_alarm(
        session,
        stream.site,
        AlarmKind.PARCELS_UNACCOUNTED,
        now,
        ref=f"{stream.epoch}:{stream.base_seq}",
        detail=(
            f"after the {stream.cause} of its event stream the site does not know "
            f"{len(items)} parcel(s) central has there: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
            + "; each is an exception until a person checks it"
            + (f"; out of service meanwhile: {', '.join(closed)}" if closed else "")
            + (f"; {len(plan.resend)} reservation(s) sent again" if plan.resend else "")
        ),
        source=f"site {stream.site} state",
    )
    log.error("site %s: parcels unknown to its new stream: %s", stream.site, shown)
