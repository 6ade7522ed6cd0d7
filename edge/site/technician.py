"""A technician's (or central's) actions on a slot: out of service and back; maintenance.

A maintenance session, opened on site, lets the mass-open breaker stand aside
(edge/site/commands.py `remote_open`).
"""

from __future__ import annotations

from edge.errors import IllegalTransition
from edge.site.actions import Action, ClearSlotFaults, CommandRefused, Emit, Move
from edge.site.records import SiteRecords
from edge.site.slots import Trigger, next_state
from edge.site.state import SiteRules, SiteState
from protocols.messages import ReplyReason, SlotBackInService, SlotOutOfService, SlotState


def set_service(
    slot_id: str,
    in_service: bool,
    *,
    by: str,
    reason: str,
    rules: SiteRules,
    records: SiteRecords,
) -> list[Action]:
    """Take `slot_id` out of service (giving back its reservation) or put it back (its
    faults go with it); nothing if it already is. CommandRefused for an unknown slot or one
    that cannot be taken out now (a door open)."""
    if slot_id not in rules.slots:
        raise CommandRefused(ReplyReason.UNKNOWN_SLOT, slot_id)
    slot = records.slot(slot_id)
    out = slot.state is SlotState.OUT_OF_SERVICE
    if in_service:
        if not out:
            return []
        trigger = Trigger.BACK_IN_SERVICE_OCCUPIED if slot.parcel else Trigger.BACK_IN_SERVICE_EMPTY
        return [
            Move(slot_id, trigger),
            ClearSlotFaults(slot_id),
            Emit(SlotBackInService(slot=slot_id, by=by)),
        ]
    if out:
        return []
    actions: list[Action] = []
    state = slot.state
    if state is SlotState.RESERVED:
        actions.append(Move(slot_id, Trigger.RELEASE_RESERVATION))
        state = next_state(state, Trigger.RELEASE_RESERVATION)
    try:
        next_state(state, Trigger.TAKE_OUT_OF_SERVICE)
    except IllegalTransition as exc:
        raise CommandRefused(ReplyReason.SLOT_UNAVAILABLE, str(exc)) from None
    out_of_service = SlotOutOfService(slot=slot_id, reason=reason or "technician", by=by)
    return [*actions, Move(slot_id, Trigger.TAKE_OUT_OF_SERVICE), Emit(out_of_service)]


def open_maintenance(
    rules: SiteRules, state: SiteState, now_m: float, seconds: float | None = None
) -> float:
    """Open a maintenance session for `seconds` (default `maintenance_s`) from monotonic
    `now_m`: the mass-open breaker stands aside until the returned monotonic time."""
    state.breaker.maintenance_until = now_m + (seconds or rules.maintenance_s)
    return state.breaker.maintenance_until
