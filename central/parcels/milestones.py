"""The cross-border milestones a parcel passes before a courier in Singapore has it.

Partners and carriers report them (a file drop, `lockernet parcels events FILE`, the partner
API's inbound endpoint). Each is recorded once per parcel, by its event time, attributed to
its source; a late one is history and never moves the parcel backwards. The journey's order
is `Milestone.rank`: a parcel's `milestone` is the furthest one it reached.

The milestone names follow the shape of the Universal Postal Union's EMSEVT events and the
carriers' tracking feeds (accepted, dispatched, linehaul departed and arrived, customs,
arrival at the destination hub, handed to the last-mile partner); the exceptions are the
ones a consumer can be told about.
"""

from __future__ import annotations

import enum


class Milestone(enum.StrEnum):
    """A step of the journey before Singapore's last mile, in journey order."""

    ACCEPTED_AT_ORIGIN = "accepted_at_origin"
    DISPATCHED = "dispatched"  # left the origin's facility: the 72-hour promise starts
    EXPORT_CUSTOMS_CLEARED = "export_customs_cleared"
    LINEHAUL_DEPARTED = "linehaul_departed"  # the flight or the ship left
    LINEHAUL_ARRIVED = "linehaul_arrived"
    IMPORT_CUSTOMS_HELD = "import_customs_held"  # an exception: held for inspection
    IMPORT_CUSTOMS_RELEASED = "import_customs_released"
    IMPORT_CUSTOMS_CLEARED = "import_customs_cleared"
    ARRIVED_AT_HUB = "arrived_at_hub"  # the Singapore hub
    HANDED_TO_PARTNER = "handed_to_partner"  # the last-mile delivery partner has it
    # Exceptions that end or interrupt the journey.
    DAMAGED = "damaged"
    LOST = "lost"
    RETURNED_TO_ORIGIN = "returned_to_origin"

    @property
    def rank(self) -> int:
        """Position in the journey (0 first); exceptions rank with where they happen."""
        return _RANK[self]

    @property
    def exception(self) -> bool:
        """Whether it interrupts the journey (a person must be told or act)."""
        return self in EXCEPTIONS


EXCEPTIONS = frozenset(
    {
        Milestone.IMPORT_CUSTOMS_HELD,
        Milestone.DAMAGED,
        Milestone.LOST,
        Milestone.RETURNED_TO_ORIGIN,
    }
)

_ORDER = [
    Milestone.ACCEPTED_AT_ORIGIN,
    Milestone.DISPATCHED,
    Milestone.EXPORT_CUSTOMS_CLEARED,
    Milestone.LINEHAUL_DEPARTED,
    Milestone.LINEHAUL_ARRIVED,
    Milestone.IMPORT_CUSTOMS_HELD,
    Milestone.IMPORT_CUSTOMS_RELEASED,
    Milestone.IMPORT_CUSTOMS_CLEARED,
    Milestone.ARRIVED_AT_HUB,
    Milestone.HANDED_TO_PARTNER,
]
_RANK = {milestone: i for i, milestone in enumerate(_ORDER)}
# Damage and loss can happen anywhere: they rank with the hub, so a later milestone still
# moves the parcel on; a return to origin ends the journey.
_RANK[Milestone.DAMAGED] = _RANK[Milestone.ARRIVED_AT_HUB]
_RANK[Milestone.LOST] = _RANK[Milestone.ARRIVED_AT_HUB]
_RANK[Milestone.RETURNED_TO_ORIGIN] = len(_ORDER)


def furthest(a: str | None, b: Milestone) -> Milestone:
    """The further of a parcel's recorded milestone `a` (its value, or None) and `b`."""
    if a is None:
        return b
    known = Milestone(a)
    return b if b.rank > known.rank else known
