"""A door's life after the site decided to open it: released or not, then shut.

`unlocked` / `unlock_failed` take the lock board's answer to an unlock; `door_closed` takes
the confirmed reading of a door shut after it opened (or after a crash, settled), and finishes
the visit: a parcel deposited, picked up or removed, or the slot put back as it was.
"""

from __future__ import annotations

from edge.site import returns
from edge.site.actions import (
    Action,
    ClearFault,
    Emit,
    ForgetDoor,
    ForgetExpected,
    MarkReleased,
    Move,
    RaiseFault,
    Removed,
    SetReservedFor,
    TrackDoor,
    UseCode,
)
from edge.site.records import SiteRecords, SlotRecord
from edge.site.slots import Trigger
from edge.site.state import OpenDoor, SiteState
from protocols.messages import (
    DoorClosed,
    Fault,
    FaultCleared,
    FaultComponent,
    LockFault,
    ParcelDeposited,
    ParcelPickedUp,
    ParcelRemoved,
    RemovalReason,
    SlotFaultCode,
    SlotState,
)

# A door that shows closed this soon after its lock was released never really opened.
JAM_SUSPECT_S = 1.5
LOCK_CODE = SlotFaultCode.LOCK_WONT_RELEASE.value


def unlocked(slot: str, state: SiteState, now_m: float, retrying_fault: bool) -> list[Action]:
    """The board confirmed `slot`'s release at monotonic `now_m`: follow the door until it
    shuts, record the release for a restart, and clear the lock fault a retry proved gone."""
    actions: list[Action] = [TrackDoor(slot, unlocked_at=now_m, since=now_m)]
    if retrying_fault:
        if state.faults.has(FaultComponent.LOCK.value, slot, LOCK_CODE):
            actions.append(
                Emit(FaultCleared(component=FaultComponent.LOCK, ref=slot, code=LOCK_CODE))
            )
        actions.append(ClearFault(FaultComponent.LOCK, slot, LOCK_CODE, slot=slot))
    return actions


def released(slot: str) -> list[Action]:
    """Evidence of the release for a restart after a crash (edge/site/crash_recovery.py)."""
    return [MarkReleased(slot)]


def unlock_failed(
    slot: str, undo: Trigger, detail: str, did_not_release: bool, now: float
) -> list[Action]:
    """The lock did not release (`did_not_release`: the board said so; else no reply): put
    the slot back by `undo` and report it; a lock that refused is a faulty slot."""
    fault = LockFault(slot=slot, fault=SlotFaultCode.LOCK_WONT_RELEASE, detail=detail)
    actions: list[Action] = [Move(slot, undo), Emit(fault)]
    if did_not_release:
        actions.append(Move(slot, Trigger.FAULT))
        standing = Fault(
            component=FaultComponent.LOCK, code=LOCK_CODE, ref=slot, since=now, detail=detail
        )
        actions.append(RaiseFault(standing, slot_fault=SlotFaultCode.LOCK_WONT_RELEASE))
    return actions


def door_closed(
    slot: SlotRecord,
    occupied: bool | None,
    records: SiteRecords,
    opened: OpenDoor | None,
    now_m: float,
) -> list[Action]:
    """`slot`, in an open state, was seen shut with the compartment `occupied` (None: no
    sensor, taken to mean the visit happened). `opened`: the door as followed, if it was (a
    release this recent means a jam)."""
    actions: list[Action] = []
    if returns.opened_for_return(slot):
        actions += returns.door_closed(slot, occupied, records)
    elif slot.state is SlotState.OPEN_FOR_DEPOSIT:
        parcel = slot.open_ref
        went_in = occupied if occupied is not None else True
        if went_in and parcel is not None:
            expected = records.expected(parcel)
            actions += [
                Move(slot.id, Trigger.CLOSED_OCCUPIED, parcel=parcel),
                SetReservedFor(slot.id, None),
                ForgetExpected(parcel),
                Emit(DoorClosed(slot=slot.id, occupied=True)),
                Emit(
                    ParcelDeposited(
                        parcel=parcel,
                        slot=slot.id,
                        courier=slot.opened_by or "unknown",
                        size=expected.size if expected else slot.size,
                        reserved=slot.reserved_for == parcel,
                    )
                ),
            ]
        else:
            actions += [
                Move(slot.id, Trigger.CLOSED_EMPTY, parcel=None),
                Emit(DoorClosed(slot=slot.id, occupied=False)),
            ]
            if slot.reserved_for is not None and records.expected(slot.reserved_for):
                actions.append(Move(slot.id, Trigger.RESERVE))
    elif slot.state in (SlotState.OPEN_FOR_PICKUP, SlotState.OPEN_FOR_REMOVAL):
        taken = not occupied if occupied is not None else True
        if taken and slot.parcel is not None:
            actions += [Move(slot.id, Trigger.CLOSED_EMPTY, parcel=None)]
            if slot.state is SlotState.OPEN_FOR_PICKUP:
                code_id = slot.open_ref or ""
                actions += [
                    UseCode(code_id, slot.parcel),
                    Removed(slot.parcel),  # collected before a courier took it back
                    Emit(DoorClosed(slot=slot.id, occupied=False)),
                    Emit(ParcelPickedUp(parcel=slot.parcel, slot=slot.id, code_id=code_id)),
                ]
            else:
                reason = RemovalReason(slot.open_ref or RemovalReason.EXPIRED.value)
                actions += [
                    Removed(slot.parcel),
                    Emit(DoorClosed(slot=slot.id, occupied=False)),
                    Emit(
                        ParcelRemoved(
                            parcel=slot.parcel,
                            slot=slot.id,
                            courier=slot.opened_by or "unknown",
                            reason=reason,
                        )
                    ),
                ]
        else:
            actions += [
                Move(slot.id, Trigger.CLOSED_OCCUPIED),
                Emit(DoorClosed(slot=slot.id, occupied=True)),
            ]
            if slot.state is SlotState.OPEN_FOR_PICKUP:
                actions += jam_suspected(slot.id, opened, now_m)
    actions.append(ForgetDoor(slot.id))
    return actions


def jam_suspected(slot: str, opened: OpenDoor | None, now_m: float) -> list[Action]:
    """A door "closed" with the parcel inside almost as soon as it was released: on a CU16
    board that is what a door jammed in its frame looks like (the latch let go and caught
    again; no person opens, changes their mind and shuts a door that fast). Report it, so a
    consumer who could not get in is not a mystery."""
    if opened is None or now_m - opened.unlocked_at > JAM_SUSPECT_S:
        return []
    return [
        Emit(
            LockFault(
                slot=slot,
                fault=SlotFaultCode.LOCK_WONT_RELEASE,
                detail="released, but the door did not open (jammed?)",
            )
        )
    ]
