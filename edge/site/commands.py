"""What central's commands decide (verified and fresh: see edge/agent/commands.py).

Each takes the command's body, the site's records and state and the time, and returns the
actions and the reply's result, or raises CommandRefused. Diagnostics and a resend of state
ask the shell for what it has, so they are not decisions and are not here.
"""

from __future__ import annotations

from typing import Any

from edge.site import technician
from edge.site.actions import (
    Action,
    CommandRefused,
    Emit,
    Expect,
    ForgetExpected,
    MarkForRemoval,
    Move,
    RevokeBadge,
    RevokeCode,
    SetReservedFor,
    Unlock,
)
from edge.site.counter import SHELF
from edge.site.records import SiteRecords, SlotRecord
from edge.site.reservations import deposit_slot, release
from edge.site.slots import Trigger
from edge.site.state import SiteRules, SiteState
from protocols.commands import DOOR_COMMAND_FRESH_S, DOOR_MOVING
from protocols.messages import (
    CancelReservation,
    Command,
    DoorOpened,
    DoorOpenReason,
    OpenSlot,
    RemoteOpenRefused,
    ReplyReason,
    ReserveSlot,
    SetSlotService,
    SiteKind,
    SlotState,
)
from protocols.messages import MarkForRemoval as MarkForRemovalCommand
from protocols.messages import RevokeBadge as RevokeBadgeCommand
from protocols.messages import RevokeCode as RevokeCodeCommand

Result = dict[str, Any] | None


def check_fresh(command: Command, now: float) -> None:
    """A door-moving command obeyed only within DOOR_COMMAND_FRESH_S of its issue
    (protocols/commands.py): one held back by an attacker cannot open a door later."""
    late = now - command.issued_at
    if command.body.type in DOOR_MOVING and late > DOOR_COMMAND_FRESH_S:
        raise CommandRefused(
            ReplyReason.STALE,
            f"{command.body.type} arrived {late:.0f} s after it was issued "
            f"(a door command is obeyed within {DOOR_COMMAND_FRESH_S:.0f} s)",
        )


def decide(
    command: Command,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    now: float,
    now_m: float,
) -> tuple[list[Action], Result]:
    """The actions and the reply's result of a verified, fresh, first-seen command whose
    body is one of the site's decisions; CommandRefused otherwise (or if it is refused)."""
    body = command.body
    if isinstance(body, ReserveSlot):
        return reserve(body, command.issued_at, rules, state, records)
    if isinstance(body, CancelReservation):
        expected = records.expected(body.parcel)
        if expected is None:
            raise CommandRefused(ReplyReason.UNKNOWN_PARCEL, body.parcel)
        released = release(expected.slot, body.parcel, records) if expected.slot else []
        return [*released, ForgetExpected(body.parcel)], None
    if isinstance(body, OpenSlot):
        return remote_open(
            body, command.id, rules=rules, state=state, records=records, now_m=now_m
        ), None
    if isinstance(body, SetSlotService):
        actions = technician.set_service(
            body.slot,
            body.in_service,
            by="central",
            reason=body.reason,
            rules=rules,
            records=records,
        )
        return actions, None
    if isinstance(body, RevokeCodeCommand):
        return [RevokeCode(body.code_id, body.parcel)], None
    if isinstance(body, RevokeBadgeCommand):
        if state.courier is not None and state.courier.badge_id == body.badge_id:
            state.courier = None  # the courier at the door now must not deposit on with it
        return [RevokeBadge(body.badge_id, body.until)], None
    if isinstance(body, MarkForRemovalCommand):
        # A parcel already gone (collected offline, removed, never came) gets no entry that
        # nothing would ever clear; central learns which from the reply.
        parcels = set(body.parcels)
        not_here = sorted({p for p in parcels if not records.parcel_here(p)})
        marks: list[Action] = [
            MarkForRemoval(p, body.reason.value) for p in sorted(parcels - set(not_here))
        ]
        return marks, {"marked": len(parcels) - len(not_here), "not_here": not_here}
    raise CommandRefused(ReplyReason.MALFORMED, f"unknown command {body.type}")


def reserve(
    body: ReserveSlot,
    issued_at: float,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
) -> tuple[list[Action], Result]:
    """Hold a slot (or shelf space) for a parcel on its way."""
    # A reservation that arrives after its parcel (a resend the courier beat) would hold a
    # second slot, or an entry nothing clears, for a parcel already here or gone.
    held = records.slot_holding(body.parcel)
    if held is not None or records.on_shelf(body.parcel):
        return [], {"slot": held.id if held else SHELF, "deposited": True}
    collected = records.picked_up_at(body.parcel)
    if collected is not None and issued_at <= collected:
        # Issued before the parcel was collected here: a resend that came late, not a
        # redelivery of the same label (which central issues after the pickup).
        raise CommandRefused(ReplyReason.UNKNOWN_PARCEL, "already picked up here")
    if rules.kind is SiteKind.COUNTER:
        if records.shelved() >= rules.shelf_capacity:
            raise CommandRefused(ReplyReason.NO_CAPACITY, "shelves full")
        return [Expect(body.parcel, body.size, None, body.until)], {"slot": SHELF}
    existing = records.expected(body.parcel)
    if existing is not None and existing.slot is not None:
        return [], {"slot": existing.slot}  # a repeated reservation: same answer
    slot: SlotRecord | None = None
    if body.slot is not None:
        if body.slot not in rules.slots:
            raise CommandRefused(ReplyReason.UNKNOWN_SLOT, body.slot)
        candidate = records.slot(body.slot)
        if candidate.state is SlotState.FREE and state.usable(rules.slots[candidate.id]):
            slot = candidate
    if slot is None:
        slot = deposit_slot(None, body.size, rules, state, records)
    if slot is None:
        raise CommandRefused(ReplyReason.NO_CAPACITY, f"no free {body.size.value} slot")
    actions: list[Action] = [
        Move(slot.id, Trigger.RESERVE),
        SetReservedFor(slot.id, body.parcel),
        Expect(body.parcel, body.size, slot.id, body.until),
    ]
    return actions, {"slot": slot.id}


def remote_open(
    body: OpenSlot,
    command_id: str,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    now_m: float,
) -> list[Action]:
    """Open a slot on central's word, within the mass-open breaker: outside a maintenance
    session, no more than `remote_open_limit` remote opens in `remote_open_window_s`, whatever
    the signature (a real network was once opened wholesale by one remote attack). Each
    attempt past the check counts in the breaker's window (in `state`), opened or not."""
    if body.slot not in rules.slots:
        raise CommandRefused(ReplyReason.UNKNOWN_SLOT, body.slot)
    breaker = state.breaker
    recent = breaker.recent(now_m, rules.remote_open_window_s)
    in_maintenance = breaker.in_maintenance(now_m)
    if not in_maintenance and recent >= rules.remote_open_limit:
        refused = CommandRefused(
            ReplyReason.RATE_LIMITED,
            f"{recent} remote opens in the last {rules.remote_open_window_s:.0f} s; "
            "open a maintenance session on site",
        )
        refused.record = [
            Emit(RemoteOpenRefused(slot=body.slot, command_id=command_id, opens_in_window=recent))
        ]
        raise refused
    breaker.opens.append(now_m)
    slot = records.slot(body.slot)
    if slot.state is SlotState.OCCUPIED:
        move = Move(slot.id, Trigger.OPEN_FOR_REMOVAL, opened_by="remote", open_ref="remote")
        undo = Trigger.CLOSED_OCCUPIED
    elif slot.state in (SlotState.FREE, SlotState.RESERVED):
        move = Move(
            slot.id, Trigger.OPEN_FOR_DEPOSIT, opened_by="remote", open_ref=slot.reserved_for
        )
        undo = Trigger.CLOSED_EMPTY
    else:
        raise CommandRefused(ReplyReason.SLOT_UNAVAILABLE, slot.state.value)
    reason = DoorOpenReason.MAINTENANCE if in_maintenance else DoorOpenReason.REMOTE
    return [move, Emit(DoorOpened(slot=slot.id, reason=reason)), Unlock(slot.id, undo)]
