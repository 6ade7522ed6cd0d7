"""The state snapshot central sees: every slot as the store and the boards show it."""

from __future__ import annotations

from edge.site.clock_guard import ClockGuard
from edge.site.state import SiteRules, SiteState
from edge.store.sqlite import Store
from protocols.messages import DoorState, SiteKind, SlotSnapshot, StateSnapshot

AGENT_VERSION = "0.1.0"
PROTOCOL_VERSION = "1"


def snapshot(
    rules: SiteRules, state: SiteState, store: Store, boot_id: str, clock: ClockGuard
) -> StateSnapshot:
    """The site's state now: slots (door and contents by the latest trusted reading), the
    shelves of a counter, the faults standing and the clock's sureness."""
    slots = []
    for record in store.read().slots():
        place = rules.slots.get(record.id)
        if place is None:
            continue
        door, locked, occupied = DoorState.UNKNOWN, None, None
        seen = state.boards.door(place)
        if seen is not None:
            is_open, occupied = seen
            door = DoorState.OPEN if is_open else DoorState.CLOSED
            locked = not is_open
        slots.append(
            SlotSnapshot(
                slot=record.id,
                size=record.size,
                state=record.state,
                door=door,
                locked=locked,
                occupied=occupied,
                parcel=record.parcel,
                reserved_for=record.reserved_for,
            )
        )
    counter = rules.kind is SiteKind.COUNTER
    return StateSnapshot(
        site=rules.site,
        kind=rules.kind,
        boot_id=boot_id,
        at=clock.now(),
        last_seq=store.last_seq(),
        epoch=store.epoch,
        slots=slots,
        shelf_capacity=rules.shelf_capacity if counter else None,
        shelf_used=store.read().shelved() if counter else None,
        faults=list(state.faults.active.values()),
        versions={"agent": AGENT_VERSION, "protocol": PROTOCOL_VERSION},
        clock_unsure=clock.unsure,
    )
