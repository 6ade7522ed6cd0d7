"""Records to store in the contract tests: small, complete, and different from the defaults
(a field a store forgot to write would come back as its default and go unnoticed)."""

from __future__ import annotations

from central.store.records import (
    Contact,
    ParcelRecord,
    ParcelState,
    ReservationRecord,
    SiteRecord,
    SlotRecord,
)
from protocols.messages import Fault, FaultComponent, SiteKind, SizeClass, SlotState
from tests.central.central_rig import label

T0 = 1_800_000_000.0
SITE = "L0001"


def site(site_id: str = SITE, **changes: object) -> SiteRecord:
    """A site with every field set."""
    fields: dict[str, object] = {
        "site": site_id,
        "kind": SiteKind.LOCKER,
        "name": "Tampines Hub Locker",
        "lat": 1.3521,
        "lon": 103.9448,
        "shelf_capacity": 12,
        "shelf_used": 3,
        "online": True,
        "status_at": T0 + 1,
        "boot_id": "boot-7",
        "agent_version": "1.4.2",
        "snapshot_at": T0 + 2,
        "snapshot_seq": 41,
        "faults": (Fault(component=FaultComponent.BOARD, code="no_reply", ref="2", since=T0),),
        "compartments": {"S": 2, "M": 2, "L": 1},
        "broker": "east",
    }
    fields.update(changes)
    return SiteRecord(**fields)  # type: ignore[arg-type]


def slot(
    name: str,
    size: str = SizeClass.S,
    state: SlotState = SlotState.FREE,
    site_id: str = SITE,
    **changes: object,
) -> SlotRecord:
    return SlotRecord(site_id, name, size, state, updated_at=T0, **changes)  # type: ignore[arg-type]


def parcel(n: int, state: ParcelState = ParcelState.ANNOUNCED, **changes: object) -> ParcelRecord:
    """A parcel with every field set."""
    fields: dict[str, object] = {
        "label": label(n),
        "state": state,
        "size": "M",
        "weight_kg": 1.25,
        "postal_code": "520101",
        "lat": 1.35,
        "lon": 103.94,
        "delivery_mode": "locker",
        "preferred_site": SITE,
        "contact": Contact(name="Tan Wei Ling", phone="+65 9123 4567", email="w@example.sg"),
        "site": SITE,
        "slot": "C",
        "partner": "post",
        "courier": "K1",
        "announced_at": T0,
        "dispatched_at": T0 - 3600,
        "updated_at": T0 + 5,
        "pickup_expires_at": T0 + 259_200,
    }
    fields.update(changes)
    return ParcelRecord(**fields)  # type: ignore[arg-type]


def reservation(
    n: int, slot_name: str | None, site_id: str = SITE, size: str = "S"
) -> ReservationRecord:
    return ReservationRecord(
        label(n), site_id, size, created_at=T0, until=T0 + 3600, slot=slot_name
    )
