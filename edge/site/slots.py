"""The slot state machine: every legal move of a compartment, in one table.

A slot moves only on a decision of the agent (reserve, open for a person, take out of
service) or on a confirmed sensor reading (the door closed with the IR sensor seeing a parcel,
or seeing none). Anything not in the table raises IllegalTransition.
"""

from __future__ import annotations

import enum

from edge.errors import IllegalTransition
from protocols.messages import SlotState


class Trigger(enum.StrEnum):
    RESERVE = "reserve"
    RELEASE_RESERVATION = "release_reservation"
    OPEN_FOR_DEPOSIT = "open_for_deposit"
    OPEN_FOR_PICKUP = "open_for_pickup"
    OPEN_FOR_REMOVAL = "open_for_removal"
    CLOSED_OCCUPIED = "closed_occupied"  # door closed, IR sees a parcel
    CLOSED_EMPTY = "closed_empty"  # door closed, IR sees nothing
    TAKE_OUT_OF_SERVICE = "take_out_of_service"
    BACK_IN_SERVICE_EMPTY = "back_in_service_empty"
    BACK_IN_SERVICE_OCCUPIED = "back_in_service_occupied"
    FAULT = "fault"
    FAULT_CLEARED_EMPTY = "fault_cleared_empty"
    FAULT_CLEARED_OCCUPIED = "fault_cleared_occupied"
    PARCEL_VANISHED = "parcel_vanished"  # IR went empty behind a closed door


S = SlotState
T = Trigger

TRANSITIONS: dict[tuple[SlotState, Trigger], SlotState] = {
    (S.FREE, T.RESERVE): S.RESERVED,
    (S.RESERVED, T.RELEASE_RESERVATION): S.FREE,
    (S.FREE, T.OPEN_FOR_DEPOSIT): S.OPEN_FOR_DEPOSIT,
    (S.RESERVED, T.OPEN_FOR_DEPOSIT): S.OPEN_FOR_DEPOSIT,
    (S.OPEN_FOR_DEPOSIT, T.CLOSED_OCCUPIED): S.OCCUPIED,
    (S.OPEN_FOR_DEPOSIT, T.CLOSED_EMPTY): S.FREE,
    (S.OCCUPIED, T.OPEN_FOR_PICKUP): S.OPEN_FOR_PICKUP,
    (S.OPEN_FOR_PICKUP, T.CLOSED_EMPTY): S.FREE,
    (S.OPEN_FOR_PICKUP, T.CLOSED_OCCUPIED): S.OCCUPIED,  # the consumer left it there
    (S.OCCUPIED, T.OPEN_FOR_REMOVAL): S.OPEN_FOR_REMOVAL,
    (S.OPEN_FOR_REMOVAL, T.CLOSED_EMPTY): S.FREE,
    (S.OPEN_FOR_REMOVAL, T.CLOSED_OCCUPIED): S.OCCUPIED,
    (S.OCCUPIED, T.PARCEL_VANISHED): S.FAULT,
    (S.FREE, T.TAKE_OUT_OF_SERVICE): S.OUT_OF_SERVICE,
    (S.RESERVED, T.TAKE_OUT_OF_SERVICE): S.OUT_OF_SERVICE,
    (S.OCCUPIED, T.TAKE_OUT_OF_SERVICE): S.OUT_OF_SERVICE,
    (S.FAULT, T.TAKE_OUT_OF_SERVICE): S.OUT_OF_SERVICE,
    (S.OUT_OF_SERVICE, T.BACK_IN_SERVICE_EMPTY): S.FREE,
    (S.OUT_OF_SERVICE, T.BACK_IN_SERVICE_OCCUPIED): S.OCCUPIED,
    (S.FAULT, T.FAULT_CLEARED_EMPTY): S.FREE,
    (S.FAULT, T.FAULT_CLEARED_OCCUPIED): S.OCCUPIED,
}
# Any state but out-of-service can turn faulty (a lock that will not release, a stuck sensor).
for _state in SlotState:
    if _state not in (S.OUT_OF_SERVICE, S.FAULT):
        TRANSITIONS[(_state, T.FAULT)] = S.FAULT

OPEN_STATES = frozenset({S.OPEN_FOR_DEPOSIT, S.OPEN_FOR_PICKUP, S.OPEN_FOR_REMOVAL})
# States in which a closed door must hold a parcel.
HOLDS_PARCEL = frozenset({S.OCCUPIED})


def next_state(state: SlotState, trigger: Trigger) -> SlotState:
    """The state `trigger` moves a slot in `state` to; IllegalTransition if it may not move."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(f"a slot that is {state.value} cannot {trigger.value}") from None


def can(state: SlotState, trigger: Trigger) -> bool:
    return (state, trigger) in TRANSITIONS


def mermaid() -> str:
    """The table as a Mermaid state diagram, for docs/edge.md."""
    lines = ["stateDiagram-v2"]
    for (source, trigger), target in TRANSITIONS.items():
        lines.append(f"    {source.value} --> {target.value}: {trigger.value}")
    return "\n".join(lines)
