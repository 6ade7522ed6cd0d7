"""What each site event means to central, applied once and in the site's sequence order.

`apply_event` runs inside the ingest transaction: the parcel's lifecycle step, the slot's new
state, alarms, and the durable follow-up tasks (pickup code, reminder, expiry) all commit
with the event itself or not at all.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from central.parcels import returns
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.steps import report_fact, site_source, take_step
from central.parcels.tasks import TaskKind
from central.service.config import PickupConfig
from central.sites import lockouts
from central.sites.alarms import FAULT_ALARM, AlarmKind, clear_alarm, raise_alarm
from central.sites.commands import queue_command
from central.store import CodeStatus, ParcelRecord, ReservationStatus, StoreSession, TaskRecord
from protocols.messages import (
    BoardFault,
    CancelReservation,
    DoorClosed,
    DoorForced,
    DoorLeftOpen,
    DoorOpened,
    DoorOpenReason,
    DoorState,
    Event,
    FaultCleared,
    FaultComponent,
    LockFault,
    ParcelDeposited,
    ParcelPickedUp,
    ParcelRemoved,
    RemoteOpenRefused,
    RemovalReason,
    ReturnDroppedOff,
    ScannerFault,
    ScannerLockedOut,
    ScanRefused,
    SensorFault,
    SiteKind,
    SlotBackInService,
    SlotOutOfService,
    SlotState,
)


class Counted(enum.Enum):
    """What a site event adds to a site's tallies (each event is applied exactly once)."""

    DEPOSIT = "deposit"
    PICKUP = "pickup"
    REMOVAL = "removal"


@dataclass(frozen=True)
class EventEffects:
    """Applies site events; holds the pickup rules (window, reminder) they need."""

    pickup: PickupConfig

    def apply(self, session: StoreSession, event: Event, now: float) -> Counted | None:
        payload = event.payload
        source = site_source(event.site, event.seq)
        match payload:
            case ParcelDeposited():
                self._deposited(session, event, payload, source, now)
                return Counted.DEPOSIT
            case ParcelPickedUp():
                if _pickup_already_applied(session, payload):
                    return None
                self._picked_up(session, event, payload, source, now)
                return Counted.PICKUP
            case ParcelRemoved():
                self._removed(session, event, payload, source, now)
                return Counted.REMOVAL
            case ReturnDroppedOff():
                returns.dropped_off(session, event, payload, source, now)
                _adjust_shelf(session, event.site, +1)
            case DoorOpened():
                _door_opened(session, event.site, payload, event.at)
            case DoorLeftOpen():
                _set_door(session, event.site, payload.slot, DoorState.OPEN, event.at)
                raise_alarm(
                    session,
                    event.site,
                    AlarmKind.DOOR_LEFT_OPEN,
                    event.at,
                    ref=payload.slot,
                    detail=f"open {payload.open_seconds:.0f} s",
                    source=source,
                )
            case DoorClosed():
                _door_closed(session, event.site, payload, event.at)
                clear_alarm(session, event.site, AlarmKind.DOOR_LEFT_OPEN, now, payload.slot)
            case DoorForced():
                _set_door(session, event.site, payload.slot, DoorState.OPEN, event.at)
                raise_alarm(
                    session,
                    event.site,
                    AlarmKind.DOOR_FORCED,
                    event.at,
                    ref=payload.slot,
                    detail="door opened while locked",
                    source=source,
                )
            case SlotOutOfService():
                _set_slot(session, event.site, payload.slot, SlotState.OUT_OF_SERVICE, event.at)
            case SlotBackInService():
                _slot_back(session, event.site, payload.slot, event.at)
            case LockFault() | SensorFault():
                raise_alarm(
                    session,
                    event.site,
                    AlarmKind.SLOT_FAULT,
                    event.at,
                    ref=payload.slot,
                    detail=payload.fault.value + (f": {payload.detail}" if payload.detail else ""),
                    source=source,
                )
                if isinstance(payload, LockFault):
                    _set_slot(session, event.site, payload.slot, SlotState.FAULT, event.at)
            case BoardFault():
                raise_alarm(
                    session,
                    event.site,
                    AlarmKind.BOARD_FAULT,
                    event.at,
                    ref=str(payload.board),
                    detail=payload.fault.value + (f": {payload.detail}" if payload.detail else ""),
                    source=source,
                )
            case ScannerFault():
                raise_alarm(
                    session,
                    event.site,
                    AlarmKind.SCANNER_FAULT,
                    event.at,
                    detail=payload.fault.value,
                    source=source,
                )
            case FaultCleared():
                kind = FAULT_ALARM.get(payload.component)
                if kind is not None:
                    clear_alarm(session, event.site, kind, now, payload.ref or "")
                if payload.component is FaultComponent.LOCK and payload.ref:
                    _slot_back(session, event.site, payload.ref, event.at)
            case RemoteOpenRefused():
                raise_alarm(
                    session,
                    event.site,
                    AlarmKind.REMOTE_OPEN_REFUSED,
                    event.at,
                    ref=payload.command_id,
                    detail=f"mass-open breaker held at {payload.opens_in_window} opens",
                    source=source,
                )
            case ScanRefused():
                lockouts.scan_refused(session, event, payload)
            case ScannerLockedOut():
                lockouts.scanner_locked_out(session, event, payload, source)
            case _:
                pass  # kept in the event log only
        return None

    # ------------------------------------------------------------------ parcel events

    def _deposited(
        self,
        session: StoreSession,
        event: Event,
        payload: ParcelDeposited,
        source: str,
        now: float,
    ) -> None:
        site, label = event.site, payload.parcel
        slot = session.get_slot(site, payload.slot)
        if slot is not None:
            session.save_slot(
                dataclasses.replace(
                    slot,
                    state=SlotState.OCCUPIED,
                    parcel=label,
                    reserved_for=None,
                    occupied=True,
                    updated_at=event.at,
                )
            )
        _adjust_shelf(session, site, +1)
        detail = f"slot {payload.slot} by courier {payload.courier}"
        reservation = session.held_reservation(label)
        # Ended only if still held: at another site the reservation's own site lock (not
        # this one's) guards it, and a lapse committed meanwhile must not be overwritten.
        ended = (
            reservation is not None
            and reservation.id is not None
            and session.end_held_reservation(reservation.id, ReservationStatus.FULFILLED)
        )
        if ended and reservation is not None and reservation.site != site:
            detail += f" (it was reserved at {reservation.site})"
            queue_command(
                session, reservation.site, CancelReservation(parcel=label), now, label=label
            )
        record = session.get_parcel(label)
        if record is None:
            unknown = ParcelRecord(label=label, state=None, updated_at=now)
            report_fact(
                session,
                unknown,
                ParcelStep.FLAG_EXCEPTION,
                at=event.at,
                source=source,
                now=now,
                detail=f"deposited at {site} {detail}, but never announced",
                site=site,
                slot=payload.slot,
                courier=payload.courier,
                size=payload.size.value if payload.size else None,
            )
            return
        # The consumer's window runs from when central can tell them, not from a deposit
        # that a site kept to itself through days offline.
        expires_at = now + self.pickup.window_s
        updated = report_fact(
            session,
            record,
            ParcelStep.DEPOSIT,
            at=event.at,
            source=source,
            now=now,
            detail=detail,
            site=site,
            slot=payload.slot,
            courier=payload.courier,
            pickup_expires_at=expires_at,
        )
        if updated.state != ParcelState.READY_FOR_PICKUP.value:
            return
        follow_ups = [TaskRecord(TaskKind.ISSUE_CODE, now, label=label, site=site)]
        remind_at = expires_at - self.pickup.reminder_before_s
        if self.pickup.reminder_before_s > 0 and remind_at > now:
            follow_ups.append(TaskRecord(TaskKind.REMIND, remind_at, label=label, site=site))
        follow_ups.append(TaskRecord(TaskKind.EXPIRE, expires_at, label=label, site=site))
        session.add_tasks(follow_ups)

    def _picked_up(
        self,
        session: StoreSession,
        event: Event,
        payload: ParcelPickedUp,
        source: str,
        now: float,
    ) -> None:
        _empty_slot(session, event.site, payload.slot, event.at)
        _adjust_shelf(session, event.site, -1)
        session.set_code_status(payload.code_id, CodeStatus.USED)
        session.finish_removals(payload.parcel, now)
        record = session.get_parcel(payload.parcel) or ParcelRecord(
            label=payload.parcel, state=None, updated_at=now
        )
        report_fact(
            session,
            record,
            ParcelStep.PICK_UP,
            at=event.at,
            source=source,
            now=now,
            detail=f"from slot {payload.slot}",
            slot=payload.slot,
        )

    def _removed(
        self,
        session: StoreSession,
        event: Event,
        payload: ParcelRemoved,
        source: str,
        now: float,
    ) -> None:
        _empty_slot(session, event.site, payload.slot, event.at)
        _adjust_shelf(session, event.site, -1)
        session.finish_removals(payload.parcel, now)
        for code in session.codes(payload.parcel):
            if code.status == CodeStatus.ACTIVE:
                session.set_code_status(code.code_id, CodeStatus.REVOKED)
        record = session.get_parcel(payload.parcel) or ParcelRecord(
            label=payload.parcel, state=None, updated_at=now
        )
        if record.kind == returns.RETURN_KIND:  # a consumer's return, on its way back
            returns.collected(session, record, payload, at=event.at, source=source, now=now)
            return
        record = report_fact(
            session,
            record,
            ParcelStep.REMOVE,
            at=event.at,
            source=source,
            now=now,
            detail=f"{payload.reason.value} by courier {payload.courier} from slot {payload.slot}",
            courier=payload.courier,
        )
        follow = {
            RemovalReason.RETURN: ParcelStep.RETURN,
            RemovalReason.REDELIVERY: ParcelStep.REDELIVER,
        }.get(payload.reason)
        if follow is not None and record.state == ParcelState.REMOVED.value:
            take_step(session, record, follow, at=event.at, source=source, now=now)


# --------------------------------------------------------------------------- helpers


def _set_slot(session: StoreSession, site: str, slot_id: str, state: SlotState, at: float) -> None:
    # Only slots a snapshot told central about: a slot made up from an event would have no
    # size, and would make the site look like it has only the slots events mentioned.
    slot = session.get_slot(site, slot_id)
    if slot is not None:
        session.save_slot(dataclasses.replace(slot, state=state, updated_at=at))


# What a door opened for puts the slot in, as the site's own slot table moves it
# (edge/site/slots.py). A remote or maintenance open depends on what the slot holds.
_OPENED_STATE = {
    DoorOpenReason.DEPOSIT: SlotState.OPEN_FOR_DEPOSIT,
    DoorOpenReason.RETURN_DROP_OFF: SlotState.OPEN_FOR_DEPOSIT,
    DoorOpenReason.PICKUP: SlotState.OPEN_FOR_PICKUP,
    DoorOpenReason.REMOVAL: SlotState.OPEN_FOR_REMOVAL,
}
_OPEN_STATES = frozenset(
    {SlotState.OPEN_FOR_DEPOSIT, SlotState.OPEN_FOR_PICKUP, SlotState.OPEN_FOR_REMOVAL}
)


def _door_opened(session: StoreSession, site: str, payload: DoorOpened, at: float) -> None:
    """The site opened a door: the slot is open for what it was opened for, its door open
    (until now only a state snapshot said so, and the next one might be hours away)."""
    slot = session.get_slot(site, payload.slot)
    if slot is None:
        return
    state = _OPENED_STATE.get(payload.reason)
    if state is None:  # remote or maintenance: the site opens a full slot for removal
        state = SlotState.OPEN_FOR_REMOVAL if slot.parcel else SlotState.OPEN_FOR_DEPOSIT
    session.save_slot(
        dataclasses.replace(slot, state=state, door=DoorState.OPEN.value, updated_at=at)
    )


def _door_closed(session: StoreSession, site: str, payload: DoorClosed, at: float) -> None:
    """The door shut. A slot that was open for something is occupied or empty again, as the
    site decided (`occupied`); the deposit, pickup or removal event that may follow names the
    parcel. A door shut after being forced leaves the slot's state as it was."""
    slot = session.get_slot(site, payload.slot)
    if slot is None:
        return
    changed = dataclasses.replace(slot, door=DoorState.CLOSED.value, updated_at=at)
    if payload.occupied is not None:
        changed = dataclasses.replace(changed, occupied=payload.occupied)
    if slot.state in _OPEN_STATES and payload.occupied is not None:
        if payload.occupied:
            changed = dataclasses.replace(changed, state=SlotState.OCCUPIED)
        else:
            back = SlotState.RESERVED if slot.reserved_for else SlotState.FREE
            changed = dataclasses.replace(changed, state=back, parcel=None)
    session.save_slot(changed)


def _set_door(session: StoreSession, site: str, slot_id: str, door: DoorState, at: float) -> None:
    slot = session.get_slot(site, slot_id)
    if slot is not None:
        session.save_slot(dataclasses.replace(slot, door=door.value, updated_at=at))


def _slot_back(session: StoreSession, site: str, slot_id: str, at: float) -> None:
    slot = session.get_slot(site, slot_id)
    if slot is not None:
        state = SlotState.OCCUPIED if slot.parcel else SlotState.FREE
        session.save_slot(dataclasses.replace(slot, state=state, updated_at=at))


def _pickup_already_applied(session: StoreSession, payload: ParcelPickedUp) -> bool:
    """The same pickup reported again under a new event id: a site whose store lost its last
    writes (rolled back, central/sites/streams.py) finds the door it had opened for the consumer
    closed on an empty slot and reports the pickup its lost record had already reported.
    A parcel is collected once; the second report is that same fact, not a contradiction."""
    record = session.get_parcel(payload.parcel)
    if record is None or record.state != ParcelState.COLLECTED.value:
        return False
    picked = [s for s in session.steps(payload.parcel) if s.step == ParcelStep.PICK_UP.value]
    return bool(picked) and picked[-1].detail == f"from slot {payload.slot}"


def _empty_slot(session: StoreSession, site: str, slot_id: str, at: float) -> None:
    slot = session.get_slot(site, slot_id)
    if slot is not None:
        session.save_slot(
            dataclasses.replace(
                slot, state=SlotState.FREE, parcel=None, occupied=False, updated_at=at
            )
        )


def _adjust_shelf(session: StoreSession, site: str, delta: int) -> None:
    record = session.get_site(site)
    if record is None or record.kind != SiteKind.COUNTER.value:
        return
    used = max(0, (record.shelf_used or 0) + delta)
    session.save_site(dataclasses.replace(record, shelf_used=used))
