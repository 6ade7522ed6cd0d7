"""What the boards' readings decide: doors shut and opened, contents, boards down and back.

A slot moves on a confirmed reading only (edge/site/slots.py). Each poll of a board gives a
reading, or no reply; `board_reading` compares it with the board's previous reading and
decides for each slot that changed or is waiting on its door or its fault.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge.site.actions import (
    Action,
    BoardDown,
    BoardStatus,
    BoardUp,
    ClearFault,
    DoorLeftOpenReported,
    DoorSeenOpen,
    Emit,
    ForgetDoor,
    GoodReading,
    Move,
    RaiseFault,
    Reading,
    Settled,
    TrackDoor,
)
from edge.site.crash_recovery import HELD_BEFORE, Outcome, settle
from edge.site.doors import JAM_SUSPECT_S, door_closed
from edge.site.records import SiteRecords, SlotRecord
from edge.site.slots import OPEN_STATES, Trigger
from edge.site.state import SiteRules, SiteState
from protocols.messages import (
    BoardFault,
    BoardFaultCode,
    DoorClosed,
    DoorForced,
    DoorLeftOpen,
    Fault,
    FaultCleared,
    FaultComponent,
    SensorFault,
    SlotFaultCode,
    SlotState,
)

BOARD_RECOVERY_READINGS = 3  # good readings in a row before a faulty board is trusted again
log = logging.getLogger(__name__)

NO_REPLY = BoardFaultCode.NO_REPLY.value
IR_CODE = SlotFaultCode.IR_MISMATCH.value


def board_down(board: int, detail: str, state: SiteState, now: float) -> list[Action]:
    """`board` did not answer a poll: it is down (reported once) until it is trusted again."""
    actions: list[Action] = [BoardDown(board)]
    if board not in state.boards.down:
        fault = Fault(
            component=FaultComponent.BOARD, code=NO_REPLY, ref=str(board), since=now, detail=detail
        )
        actions += [
            RaiseFault(fault),
            Emit(BoardFault(board=board, fault=BoardFaultCode.NO_REPLY, detail=detail)),
        ]
    return actions


def board_trusted(board: int, state: SiteState) -> tuple[bool, list[Action]]:
    """A good reading of `board`: whether it is trusted with it (may move slots), and the
    changes. A board that answered too late may still be answering old requests, and a
    status frame says nothing of which request it answers: only a run of good readings in a
    row brings it back, so a late reply cannot pass for the board's return."""
    actions: list[Action] = [GoodReading(board)]
    if board not in state.boards.down:
        return True, actions
    if state.boards.good_readings.get(board, 0) + 1 < BOARD_RECOVERY_READINGS:
        return False, actions
    actions.append(BoardUp(board))
    if state.faults.has(FaultComponent.BOARD.value, str(board), NO_REPLY):
        actions.append(
            Emit(FaultCleared(component=FaultComponent.BOARD, ref=str(board), code=NO_REPLY))
        )
    actions.append(ClearFault(FaultComponent.BOARD, str(board), NO_REPLY))
    return True, actions


@dataclass(frozen=True)
class SlotSeen:
    """What a reading shows of one slot, beside what the board's previous reading showed."""

    slot: str
    door_open: bool
    was_open: bool
    occupied: bool | None  # None: no occupancy sensor


def changed_slots(reading: BoardStatus, rules: SiteRules, state: SiteState) -> list[SlotSeen]:
    """The slots of a trusted reading that need a decision: those that changed since the
    board's previous reading, or whose door or fault is being waited on. Each is decided
    and recorded on its own (`slot_reading`): one slot's record that cannot be written
    keeps no other slot's from being kept."""
    previous = state.boards.readings.get(reading.board)
    if (
        previous is not None
        and previous.door_open == reading.door_open
        and previous.occupied == reading.occupied
    ):
        # The usual poll: the board shows what it showed last time (one tuple comparison,
        # not one per lock). Only the slots waited on, if any is on this board, need a look.
        return waited_on(reading, rules, state)
    ids = rules.board_slots.get(reading.board, ())
    seen: list[SlotSeen] = []
    # A board with more locks than slots configured: the locks past the last one are none's.
    for index, (slot_id, door_open) in enumerate(zip(ids, reading.door_open, strict=False)):
        if slot_id is None:
            continue
        occupied = reading.occupied[index]
        was_open = previous.door_open[index] if previous is not None else door_open
        # Most slots, most polls, show what they showed last time: nothing to decide. Only
        # a change, or a slot waiting on its door or its fault, needs the store.
        unchanged = (
            previous is not None
            and was_open == door_open
            and previous.occupied[index] == occupied
            and slot_id not in state.doors.open
            and slot_id not in state.faults.slots
        )
        if not unchanged:
            seen.append(SlotSeen(slot_id, door_open, was_open, occupied))
    return seen


def waited_on(reading: BoardStatus, rules: SiteRules, state: SiteState) -> list[SlotSeen]:
    """The slots of `reading`'s board whose door or fault is being waited on, in lock order,
    as a reading that changed nothing shows them (`changed_slots` when nothing changed)."""
    if not state.doors.open and not state.faults.slots:
        return []
    board = reading.board
    waiting = {
        place.lock: slot_id
        for slot_id in (*state.doors.open, *state.faults.slots)
        if (place := rules.slots.get(slot_id)) is not None and place.board == board
    }
    seen: list[SlotSeen] = []
    for lock in sorted(waiting):
        if lock > len(reading.door_open):
            continue
        door_open = reading.door_open[lock - 1]
        seen.append(SlotSeen(waiting[lock], door_open, door_open, reading.occupied[lock - 1]))
    return seen


def board_reading(
    reading: BoardStatus,
    taken_at: float,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    now: float,
    now_m: float,
) -> list[Action]:
    """A trusted reading of one board, taken at monotonic `taken_at` (the poll's start):
    what each changed slot decides, then keep it as the board's latest. (The shell records
    each slot's decision on its own: see `changed_slots`.)"""
    actions: list[Action] = []
    for seen in changed_slots(reading, rules, state):
        actions += slot_reading(seen, taken_at, state=state, records=records, now=now, now_m=now_m)
    actions.append(Reading(reading))
    return actions


def slot_reading(
    seen: SlotSeen,
    taken_at: float,
    *,
    state: SiteState,
    records: SiteRecords,
    now: float,
    now_m: float,
) -> list[Action]:
    """One slot's reading that changed (or that its door or fault waits on), taken at
    monotonic `taken_at`."""
    slot = records.slot(seen.slot)
    door_open, was_open, occupied = seen.door_open, seen.was_open, seen.occupied
    if slot.id in state.doors.unsettled and slot.state in OPEN_STATES:
        return settle_interrupted(slot, door_open, occupied, records, now_m)
    opened = state.doors.open.get(slot.id)
    if slot.state in OPEN_STATES:
        if door_open:
            if opened is not None and taken_at >= opened.unlocked_at:
                return [DoorSeenOpen(slot.id, since=None if was_open else now_m)]
            return []
        # Only a reading taken after the release was confirmed may close the door (an older
        # one still shows the door as it was before it opened), and only once a poll has
        # seen it open, or the door never opened at all (jammed).
        if opened is None or taken_at < opened.unlocked_at:
            return []
        if not opened.seen_open and now_m - opened.unlocked_at < JAM_SUSPECT_S:
            return []
        return door_closed(slot, occupied, records, opened, now_m)
    actions: list[Action] = []
    if door_open and not was_open and slot.id not in state.doors.forced:
        actions += [
            TrackDoor(slot.id, unlocked_at=now_m, since=now_m, forced=True),
            Emit(DoorForced(slot=slot.id)),
        ]
    elif not door_open and slot.id in state.doors.forced:
        actions += [ForgetDoor(slot.id), Emit(DoorClosed(slot=slot.id, occupied=occupied))]
    if not door_open and occupied is not None:
        actions += check_contents(slot, occupied, state, now)
    return actions


def check_contents(slot: SlotRecord, occupied: bool, state: SiteState, now: float) -> list[Action]:
    """A closed door: does the IR sensor agree with what the store says is inside?"""
    holds = slot.parcel is not None
    ir_fault = state.faults.slots.get(slot.id) is SlotFaultCode.IR_MISMATCH
    if slot.state is SlotState.FAULT and ir_fault:
        if occupied != holds:
            return []
        trigger = Trigger.FAULT_CLEARED_OCCUPIED if holds else Trigger.FAULT_CLEARED_EMPTY
        actions: list[Action] = [Move(slot.id, trigger)]
        if state.faults.has(FaultComponent.SENSOR.value, slot.id, IR_CODE):
            actions.append(
                Emit(FaultCleared(component=FaultComponent.SENSOR, ref=slot.id, code=IR_CODE))
            )
        actions.append(ClearFault(FaultComponent.SENSOR, slot.id, IR_CODE, slot=slot.id))
        return actions
    watched = (SlotState.OCCUPIED, SlotState.FREE, SlotState.RESERVED)
    if slot.state not in watched or occupied == holds:
        return []
    detail = "parcel no longer seen" if holds else "something seen in an empty compartment"
    actions = []
    if slot.state is SlotState.RESERVED:
        actions.append(Move(slot.id, Trigger.RELEASE_RESERVATION))
    fault = Fault(
        component=FaultComponent.SENSOR, code=IR_CODE, ref=slot.id, since=now, detail=detail
    )
    actions += [
        Move(slot.id, Trigger.FAULT),
        Emit(SensorFault(slot=slot.id, fault=SlotFaultCode.IR_MISMATCH, detail=detail)),
        RaiseFault(fault, slot_fault=SlotFaultCode.IR_MISMATCH),
    ]
    return actions


def doors_left_open(
    rules: SiteRules, state: SiteState, left_open_s: float, now_m: float
) -> list[Action]:
    """Doors followed that are still open past `left_open_s`: reported once each."""
    actions: list[Action] = []
    for slot_id, door in state.doors.open.items():
        seen = state.boards.door(rules.slots[slot_id])
        if seen is None or not seen[0]:
            continue
        open_for = now_m - door.since
        if open_for > left_open_s and not door.left_open_reported:
            actions += [
                DoorLeftOpenReported(slot_id),
                Emit(DoorLeftOpen(slot=slot_id, open_seconds=round(open_for, 1))),
            ]
    return actions


def settle_interrupted(
    slot: SlotRecord, door_open: bool, occupied: bool | None, records: SiteRecords, now_m: float
) -> list[Action]:
    """A slot left in an open state by a crash: the board's reading settles it (see
    edge/site/crash_recovery.py). Opened: finish the visit; never opened: undo, no jam."""
    actions: list[Action] = [Settled(slot.id)]
    outcome = settle(slot.state, door_open, occupied, slot.released_at is not None)
    if outcome is Outcome.STILL_OPEN:
        # Released before the crash: its closing later is no jam.
        followed = TrackDoor(
            slot.id, unlocked_at=now_m - JAM_SUSPECT_S, since=now_m, seen_open=True
        )
        return [*actions, followed]
    if outcome is Outcome.DID_NOT_HAPPEN:
        log.warning(
            "%s was %s when the agent stopped, and its door never opened: undone",
            slot.id,
            slot.state.value,
        )
        occupied = HELD_BEFORE[slot.state]
    # No door followed: nothing to suspect of a jam.
    return actions + door_closed(slot, occupied, records, None, now_m)
