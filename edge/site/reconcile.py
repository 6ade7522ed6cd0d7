"""At start-up: what changed while the agent was down, by each board's first reading.

Doors left being opened by a crash are settled (edge/site/crash_recovery.py); a door found
open that nobody opened is a forced door; a closed door's contents are checked against the
store. A board that does not answer leaves its open slots unsettled until its first reading.
"""

from __future__ import annotations

from edge.site.actions import Action, BoardStatus, Emit, Reading, TrackDoor, Unsettled
from edge.site.readings import board_down, check_contents, settle_interrupted
from edge.site.records import SiteRecords
from edge.site.slots import OPEN_STATES
from edge.site.state import SiteRules, SiteState
from protocols.messages import DoorForced


def board_silent(
    board: int, detail: str, *, rules: SiteRules, state: SiteState, records: SiteRecords, now: float
) -> list[Action]:
    """`board` did not answer at start-up: down, and its slots in an open state wait."""
    actions = board_down(board, detail, state, now)
    for slot in records.slots():
        place = rules.slots.get(slot.id)
        if place is not None and place.board == board and slot.state in OPEN_STATES:
            actions.append(Unsettled(slot.id))
    return actions


def board_found(
    reading: BoardStatus,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    now: float,
    now_m: float,
) -> list[Action]:
    """The first reading of a board at start-up: settle, report forced doors, check contents."""
    actions: list[Action] = [Reading(reading)]
    for index, door_open in enumerate(reading.door_open):
        slot_id = rules.slot_at(reading.board, index + 1)
        if slot_id is None:
            continue
        slot = records.slot(slot_id)
        occupied = reading.occupied[index]
        if slot.state in OPEN_STATES:
            # The agent stopped while this door was being opened, or was open.
            actions += settle_interrupted(slot, door_open, occupied, records, now_m)
        elif door_open:
            actions += [
                TrackDoor(slot_id, unlocked_at=now_m, since=now_m, forced=True),
                Emit(DoorForced(slot=slot_id)),
            ]
        elif occupied is not None:
            actions += check_contents(slot, occupied, state, now)
    return actions
