"""Which slot a parcel goes into, and a reservation given back: shared by scans and commands."""

from __future__ import annotations

from edge.site.actions import Action, Move, SetReservedFor
from edge.site.records import SiteRecords, SlotRecord
from edge.site.slots import Trigger
from edge.site.state import SiteRules, SiteState
from protocols.messages import SizeClass, SlotState

SIZE_ORDER = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]


def deposit_slot(
    reserved: str | None,
    size: SizeClass,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
) -> SlotRecord | None:
    """The reserved slot if it can take the parcel, else the best-fitting free one (the
    smallest size that fits, then the lowest id); None if no slot can take it."""
    if reserved is not None and reserved in rules.slots:
        slot = records.slot(reserved)
        if slot.state is SlotState.RESERVED and state.usable(rules.slots[slot.id]):
            return slot
    fits = SIZE_ORDER[SIZE_ORDER.index(size) :]
    candidates = [
        s
        for s in records.slots()
        if s.state is SlotState.FREE
        and s.size in fits
        and s.id in rules.slots
        and state.usable(rules.slots[s.id])
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (SIZE_ORDER.index(s.size), s.id))


def release(slot_id: str, parcel: str, records: SiteRecords) -> list[Action]:
    """Give back `slot_id`'s reservation, if it still holds one for `parcel`."""
    slot = records.slot(slot_id)
    if slot.state is SlotState.RESERVED and slot.reserved_for == parcel:
        return [Move(slot_id, Trigger.RELEASE_RESERVATION), SetReservedFor(slot_id, None)]
    return []
