"""The counter's shelf flow: a staffed counter has shelves, not doors.

A courier's label checks a parcel in onto the shelves (or takes back one ordered for
removal); a consumer's valid code is a handover: staff give the parcel, nothing opens.
"""

from __future__ import annotations

from edge.site.actions import (
    Action,
    Emit,
    ForgetExpected,
    Refused,
    Removed,
    Shelve,
    Unshelve,
    UseCode,
)
from edge.site.records import SiteRecords
from edge.site.state import CourierSession, SiteRules
from protocols.messages import (
    ParcelDeposited,
    ParcelPickedUp,
    ParcelRemoved,
    RemovalReason,
    ScanKind,
    ScanRefusal,
)

SHELF = "SHELF"  # the slot id of a counter's shelves in events


def pickup(code_id: str, parcel: str, records: SiteRecords) -> list[Action]:
    """A valid, unused pickup code at the counter: hand the parcel over."""
    if not records.on_shelf(parcel):
        raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.PARCEL_NOT_HERE)
    return [
        Unshelve(parcel),
        UseCode(code_id, parcel),
        Removed(parcel),  # collected before a courier took it back
        Emit(ParcelPickedUp(parcel=parcel, slot=SHELF, code_id=code_id)),
    ]


def label(
    parcel: str, session: CourierSession, rules: SiteRules, records: SiteRecords
) -> list[Action]:
    """A courier's label at the counter: take back a shelved parcel ordered for removal, or
    check in an expected one if the shelves have room."""
    if records.on_shelf(parcel):
        reason = records.removal_reason(parcel)
        if reason is None:
            raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.UNKNOWN_LABEL, "already checked in")
        removed = ParcelRemoved(
            parcel=parcel, slot=SHELF, courier=session.courier, reason=RemovalReason(reason)
        )
        return [Unshelve(parcel), Removed(parcel), Emit(removed)]
    expected = records.expected(parcel)
    if expected is None:
        raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.UNKNOWN_LABEL, "not expected here")
    if records.shelved() >= rules.shelf_capacity:
        raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.NO_FREE_SLOT, "shelves full")
    deposited = ParcelDeposited(
        parcel=parcel, slot=SHELF, courier=session.courier, size=expected.size, reserved=True
    )
    return [Shelve(parcel, session.courier), ForgetExpected(parcel), Emit(deposited)]
