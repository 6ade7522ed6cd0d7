"""What a scan decides: a consumer's pickup code or return label, a courier's badge, a
parcel label.

`admit` asks the scan lockout whether to act on the scan at all (edge/site/lockout.py);
`decide` returns the actions of an admitted scan, or raises `Refused`; `refusal` says what a
refusal writes (and whether it starts a lockout). The counter's shelf flow is in counter.py.
"""

from __future__ import annotations

from edge.site import counter, returns
from edge.site.actions import Action, CountRefusal, Emit, Expect, Move, Refused, Unlock
from edge.site.lockout import Decision
from edge.site.records import SiteRecords
from edge.site.reservations import deposit_slot, release
from edge.site.slots import Trigger
from edge.site.state import CourierSession, SiteRules, SiteState
from protocols.errors import LabelError, RefusalReason, TokenRefused
from protocols.labels import parse_label
from protocols.messages import (
    DoorOpened,
    DoorOpenReason,
    ScanKind,
    ScannerLockedOut,
    ScanRefusal,
    ScanRefused,
    SiteKind,
    SlotFaultCode,
    SlotState,
)
from protocols.tokens import BADGE_PREFIX, PICKUP_PREFIX, RETURN_PREFIX, TokenVerifier

REFUSAL_FOR_TOKEN = {
    RefusalReason.MALFORMED: ScanRefusal.MALFORMED,
    RefusalReason.BAD_SIGNATURE: ScanRefusal.BAD_SIGNATURE,
    RefusalReason.WRONG_KIND: ScanRefusal.WRONG_KIND,
    RefusalReason.WRONG_SITE: ScanRefusal.WRONG_SITE,
    RefusalReason.EXPIRED: ScanRefusal.EXPIRED,
    RefusalReason.NOT_YET_VALID: ScanRefusal.NOT_YET_VALID,
}


def scan_kind(text: str) -> ScanKind:
    """What a scanned text is, by its prefix (anything else is a parcel label)."""
    if text.startswith(PICKUP_PREFIX):
        return ScanKind.PICKUP_CODE
    if text.startswith(BADGE_PREFIX):
        return ScanKind.COURIER_BADGE
    if text.startswith(RETURN_PREFIX):
        return ScanKind.RETURN_LABEL
    return ScanKind.PARCEL_LABEL


def decide(
    text: str,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    verifier: TokenVerifier,
    now: float,
    now_m: float,
) -> list[Action]:
    """The actions of an admitted scan of `text` at `now` (Unix, trusted) / `now_m`
    (monotonic); raises Refused. A badge opens the courier's session (in `state`) and
    returns nothing to do; a label keeps that session alive even when refused."""
    kind = scan_kind(text)
    if kind is ScanKind.PICKUP_CODE:
        return pickup(text, rules=rules, state=state, records=records, verifier=verifier, now=now)
    if kind is ScanKind.COURIER_BADGE:
        badge(
            text, rules=rules, state=state, records=records, verifier=verifier, now=now, now_m=now_m
        )
        return []
    if kind is ScanKind.RETURN_LABEL:
        return return_label(
            text, rules=rules, state=state, records=records, verifier=verifier, now=now
        )
    session = courier(rules, state, now_m)
    try:
        label = parse_label(text).id
    except LabelError as exc:
        raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.BAD_LABEL, str(exc)) from None
    if rules.kind is SiteKind.COUNTER:
        return counter.label(label, session, rules, records)
    return locker_label(label, session, rules, state, records)


def badge(
    text: str,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    verifier: TokenVerifier,
    now: float,
    now_m: float,
) -> None:
    """A courier badge: a valid one opens the courier's session for `courier_session_s`;
    one central revoked (RevokeBadge, remembered in the store) is refused as REVOKED."""
    try:
        found = verifier.courier_badge(text, now)
    except TokenRefused as exc:
        raise Refused(ScanKind.COURIER_BADGE, REFUSAL_FOR_TOKEN[exc.reason], exc.detail) from None
    if records.badge_revoked(found.badge_id):
        raise Refused(ScanKind.COURIER_BADGE, ScanRefusal.REVOKED, f"badge {found.badge_id}")
    state.courier = CourierSession(
        found.courier, found.partner, now_m + rules.courier_session_s, found.badge_id
    )


def return_label(
    text: str,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    verifier: TokenVerifier,
    now: float,
) -> list[Action]:
    """A consumer's return label, checked offline (central's signature, this site or any,
    not expired), then dropped off (edge/site/returns.py); no badge needed."""
    try:
        found = verifier.return_label(text, rules.site, now)
    except TokenRefused as exc:
        raise Refused(ScanKind.RETURN_LABEL, REFUSAL_FOR_TOKEN[exc.reason], exc.detail) from None
    return returns.drop_off(found, rules, state, records)


def courier(rules: SiteRules, state: SiteState, now_m: float) -> CourierSession:
    """The courier session a label scan belongs to, kept alive by the scan; NO_BADGE if
    there is none (or it lapsed)."""
    session = state.courier
    if session is None or now_m > session.until:
        state.courier = None
        raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.NO_BADGE, "scan a courier badge first")
    session.until = now_m + rules.courier_session_s
    return session


def pickup(
    text: str,
    *,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
    verifier: TokenVerifier,
    now: float,
) -> list[Action]:
    """A consumer's pickup code: open the slot holding their parcel (or hand it over at a
    counter). A slot whose lock failed before is tried again: the consumer's retry is the
    test of whether it works now."""
    try:
        code = verifier.pickup_code(text, rules.site, now)
    except TokenRefused as exc:
        raise Refused(ScanKind.PICKUP_CODE, REFUSAL_FOR_TOKEN[exc.reason], exc.detail) from None
    if records.code_revoked(code.code_id):
        raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.REVOKED)
    if records.code_used(code.code_id):
        raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.ALREADY_USED)
    if rules.kind is SiteKind.COUNTER:
        return counter.pickup(code.code_id, code.parcel, records)
    slot = records.slot_holding(code.parcel)
    if slot is None:
        raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.PARCEL_NOT_HERE)
    actions: list[Action] = []
    slot_state = slot.state
    retrying_fault = slot.state is SlotState.FAULT
    if retrying_fault and state.faults.slots.get(slot.id) in (
        SlotFaultCode.LOCK_WONT_RELEASE,
        None,
    ):
        actions.append(Move(slot.id, Trigger.FAULT_CLEARED_OCCUPIED))
        slot_state = SlotState.OCCUPIED
    if slot_state is not SlotState.OCCUPIED or rules.slots[slot.id].board in state.boards.down:
        raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.PARCEL_NOT_HERE, slot_state.value)
    return [
        *actions,
        Move(slot.id, Trigger.OPEN_FOR_PICKUP, opened_by="consumer", open_ref=code.code_id),
        Emit(DoorOpened(slot=slot.id, reason=DoorOpenReason.PICKUP)),
        Unlock(slot.id, Trigger.CLOSED_OCCUPIED, retrying_fault=retrying_fault),
    ]


def locker_label(
    label: str,
    session: CourierSession,
    rules: SiteRules,
    state: SiteState,
    records: SiteRecords,
) -> list[Action]:
    """A courier's label at a locker: open the parcel's slot to take it back (ordered for
    removal), or a slot to deposit an expected parcel in."""
    holding = records.slot_holding(label)
    reason = records.removal_reason(label)
    if holding is not None and reason is not None:
        if holding.state is not SlotState.OCCUPIED:
            raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.PARCEL_NOT_HERE, holding.state.value)
        return [
            Move(holding.id, Trigger.OPEN_FOR_REMOVAL, opened_by=session.courier, open_ref=reason),
            Emit(DoorOpened(slot=holding.id, reason=DoorOpenReason.REMOVAL)),
            Unlock(holding.id, Trigger.CLOSED_OCCUPIED),
        ]
    if holding is not None:
        raise Refused(  # a label this site knows: a re-scan, not a guess
            ScanKind.PARCEL_LABEL,
            ScanRefusal.UNKNOWN_LABEL,
            f"already in {holding.id}",
            guessing=False,
        )
    expected = records.expected(label)
    if expected is None:
        raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.UNKNOWN_LABEL, "not expected here")
    slot = deposit_slot(expected.slot, expected.size, rules, state, records)
    if slot is None:
        raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.NO_FREE_SLOT, expected.size.value)
    actions: list[Action] = []
    if expected.slot and expected.slot != slot.id:
        actions += release(expected.slot, label, records)
        actions.append(Expect(label, expected.size, slot.id, expected.until))
    return [
        *actions,
        Move(slot.id, Trigger.OPEN_FOR_DEPOSIT, opened_by=session.courier, open_ref=label),
        Emit(DoorOpened(slot=slot.id, reason=DoorOpenReason.DEPOSIT)),
        Unlock(slot.id, Trigger.CLOSED_EMPTY),
    ]


def refusal(
    refused: Refused, decision: Decision, state: SiteState, now: float, now_m: float
) -> list[Action]:
    """What a refused scan writes: the refusal (a re-read's same refusal is said once), and
    a lockout if it was one guess too many. The refusal counts in the lockout's windows (in
    `state`) only once recorded (`CountRefusal`): one the store could not write counts for
    nothing, as no lockout may stand without its ScannerLockedOut event."""
    if decision.retry and refused.reason is decision.retry_of:
        return []
    actions: list[Action] = [
        Emit(ScanRefused(kind=refused.kind, reason=refused.reason, detail=refused.detail)),
        CountRefusal(refused.reason, now_m, refused.guessing, decision),
    ]
    started = state.lockout.foresee_refused(refused.reason, now_m, refused.guessing, decision)
    if started is not None:
        # Someone is trying codes: stop listening for a while and tell the operator.
        actions.append(
            Emit(ScannerLockedOut(failures=started.failures, until=now + started.lockout_s))
        )
    return actions


def served(kind: ScanKind, rules: SiteRules, opened: str | None, refused: bool) -> bool:
    """The scan did what it asked: a door opened, a badge was accepted, a handover."""
    return not refused and (
        opened is not None or kind is ScanKind.COURIER_BADGE or rules.kind is SiteKind.COUNTER
    )
