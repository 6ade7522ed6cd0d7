"""A consumer's return: a return label scanned at the site, and the door that shuts on it.

The label was checked offline (signature, site, expiry: scans.py) before `drop_off` decides:
used once (the site remembers each label's id, edge/store/returns.py), so a label that already
put a parcel in opens nothing. At a locker it opens a free compartment of the label's size
and the parcel counts as dropped off only when the door shuts with the IR seeing it
(`door_closed`); at a counter the staff scan it and it goes on the shelves.
"""

from __future__ import annotations

from edge.site.actions import (
    Action,
    DropReturn,
    Emit,
    ForgetReturn,
    Move,
    OpenReturn,
    Refused,
    Shelve,
    Unlock,
)
from edge.site.counter import SHELF
from edge.site.records import SiteRecords, SlotRecord
from edge.site.reservations import deposit_slot
from edge.site.slots import Trigger
from edge.site.state import SiteRules, SiteState
from protocols.messages import (
    DoorClosed,
    DoorOpened,
    DoorOpenReason,
    ReturnDroppedOff,
    ScanKind,
    ScanRefusal,
    SiteKind,
    SizeClass,
    SlotState,
)
from protocols.tokens import ReturnLabel

# A slot's `opened_by` when a return label opened it: not a courier id (no Ident has a space
# or parentheses), so a courier's deposit and a return are never mistaken for each other.
RETURN_OPENER = "(return label)"


def drop_off(
    found: ReturnLabel, rules: SiteRules, state: SiteState, records: SiteRecords
) -> list[Action]:
    """The actions of a verified return label `found`: a free compartment of its size opens
    (a locker), or the parcel goes on the shelves (a counter). Raises Refused: ALREADY_USED
    (it put a parcel in before, or a door is open for it now), NO_FREE_SLOT, MALFORMED (a
    size this site does not know)."""
    try:
        size = SizeClass(found.size)
    except ValueError:
        raise Refused(ScanKind.RETURN_LABEL, ScanRefusal.MALFORMED, f"size {found.size}") from None
    used = records.return_drop(found.label_id)
    if used is not None and used.dropped_at is not None:
        raise Refused(ScanKind.RETURN_LABEL, ScanRefusal.ALREADY_USED, f"dropped in {used.slot}")
    if used is not None and _open_for(records, used.slot, found.label_id):
        raise Refused(
            ScanKind.RETURN_LABEL, ScanRefusal.ALREADY_USED, f"{used.slot} is open for it"
        )
    if records.slot_holding(found.label) is not None or records.on_shelf(found.label):
        raise Refused(ScanKind.RETURN_LABEL, ScanRefusal.ALREADY_USED, "the parcel is here")
    if rules.kind is SiteKind.COUNTER:
        return _counter(found, rules, records)
    slot = deposit_slot(None, size, rules, state, records)
    if slot is None:
        raise Refused(ScanKind.RETURN_LABEL, ScanRefusal.NO_FREE_SLOT, size.value)
    return [
        OpenReturn(found.label_id, found.return_id, found.label, slot.id),
        Move(slot.id, Trigger.OPEN_FOR_DEPOSIT, opened_by=RETURN_OPENER, open_ref=found.label_id),
        Emit(DoorOpened(slot=slot.id, reason=DoorOpenReason.RETURN_DROP_OFF)),
        Unlock(slot.id, Trigger.CLOSED_EMPTY),
    ]


def _counter(found: ReturnLabel, rules: SiteRules, records: SiteRecords) -> list[Action]:
    # The staff took the parcel over the counter as they scanned its label: it is in.
    if records.shelved() >= rules.shelf_capacity:
        raise Refused(ScanKind.RETURN_LABEL, ScanRefusal.NO_FREE_SLOT, "shelves full")
    dropped = ReturnDroppedOff(
        label=found.label, return_id=found.return_id, slot=SHELF, label_id=found.label_id
    )
    return [
        OpenReturn(found.label_id, found.return_id, found.label, SHELF),
        DropReturn(found.label_id),
        Shelve(found.label, RETURN_OPENER),
        Emit(dropped),
    ]


def _open_for(records: SiteRecords, slot_id: str, label_id: str) -> bool:
    if slot_id == SHELF:
        return False
    slot = records.slot(slot_id)
    return slot.state is SlotState.OPEN_FOR_DEPOSIT and slot.open_ref == label_id


def opened_for_return(slot: SlotRecord) -> bool:
    """`slot` is open for a consumer's return (not a courier's deposit)."""
    return slot.state is SlotState.OPEN_FOR_DEPOSIT and slot.opened_by == RETURN_OPENER


def door_closed(slot: SlotRecord, occupied: bool | None, records: SiteRecords) -> list[Action]:
    """A door a return label opened shut with the compartment `occupied` (None: no sensor,
    taken to mean the parcel went in): the return is dropped off and reported, or the slot is
    free again and the label may be scanned again."""
    drop = records.return_drop(slot.open_ref or "")
    went_in = occupied if occupied is not None else True
    if went_in and drop is not None:
        return [
            Move(slot.id, Trigger.CLOSED_OCCUPIED, parcel=drop.label),
            DropReturn(drop.label_id),
            Emit(DoorClosed(slot=slot.id, occupied=True)),
            Emit(
                ReturnDroppedOff(
                    label=drop.label, return_id=drop.return_id, slot=slot.id, label_id=drop.label_id
                )
            ),
        ]
    actions: list[Action] = [
        Move(slot.id, Trigger.CLOSED_EMPTY, parcel=None),
        Emit(DoorClosed(slot=slot.id, occupied=False)),
    ]
    if drop is not None:
        actions.append(ForgetReturn(drop.label_id))
    return actions
