"""What the site's decisions read of its durable records: slots, expected parcels, codes,
revoked badges, return labels used.

The store (edge/store/sqlite.py) is the durable truth; a decision reads it through this small
protocol, inside the transaction that then records the decision's changes, so nothing can move
between the reading and the writing. `edge.store.sqlite.Transaction` satisfies it; the unit
tests use an in-memory twin (tests/edge/site_twin.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from protocols.messages import SizeClass, SlotState


@dataclass(frozen=True)
class SlotRecord:
    """One slot as the store holds it."""

    id: str
    size: SizeClass
    state: SlotState
    parcel: str | None
    reserved_for: str | None
    opened_at: float | None
    opened_by: str | None
    open_ref: str | None
    released_at: float | None = None  # the board confirmed the release (an open state only)


@dataclass(frozen=True)
class Expected:
    """A parcel the site was told to expect (a reservation), until `until` (Unix seconds)."""

    parcel: str
    size: SizeClass
    slot: str | None
    until: float


@dataclass(frozen=True)
class ReturnDrop:
    """A return label scanned here: the slot it opened, and when the parcel went in (None:
    the door has not shut on it yet)."""

    label_id: str
    return_id: str
    label: str
    slot: str
    dropped_at: float | None


class SiteRecords(Protocol):
    """The read side of the site's store that decisions use (all reads, no writes)."""

    def slot(self, slot_id: str) -> SlotRecord: ...
    def slots(self) -> list[SlotRecord]: ...
    def slot_holding(self, parcel: str) -> SlotRecord | None: ...
    def expected(self, parcel: str) -> Expected | None: ...
    def lapsed(self, now: float) -> list[Expected]: ...
    def removal_reason(self, parcel: str) -> str | None: ...
    def parcel_here(self, parcel: str) -> bool: ...
    def code_used(self, code_id: str) -> bool: ...
    def code_revoked(self, code_id: str) -> bool: ...
    def badge_revoked(self, badge_id: str) -> bool: ...
    def picked_up_at(self, parcel: str) -> float | None: ...
    def shelved(self) -> int: ...
    def on_shelf(self, parcel: str) -> bool: ...
    def return_drop(self, label_id: str) -> ReturnDrop | None: ...
