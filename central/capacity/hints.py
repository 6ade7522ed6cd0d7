"""What placement chooses between sites by before it locks one: the whole network's free
capacity read at once (central/capacity/reservations.py reads a site again, exactly, under
its lock before it reserves anything there)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from central.store import SiteRecord, StoreSession

# From this many parcels in a chunk, placement reads the network's capacity at once
# (CapacityHints: four queries) rather than site by site (several per site it considers).
HINTS_FROM_PARCELS = 50
# How long a wave chooses by the hints it read (wall seconds): about one chunk's
# transaction on PostgreSQL, over which the old per-site reads were kept too.
HINTS_MAX_AGE_S = 2.0


@dataclass
class CapacityHints:
    """The whole network's free capacity read at once, at the start of a chunk's
    transaction: what StoreCapacity chooses between sites by before it locks one (then it
    reads the site again, exactly). Read site by site instead, choosing cost a wave of 500
    parcels some 2,000 queries, each a round trip on PostgreSQL; these are four.

    Never below what a site had free when read: a locker's free slots leave out the holds
    no slot shows yet (rare: placement names the slot it holds), so a few sites are locked
    and found full. Kept for HINTS_MAX_AGE_S across one wave's transactions (a site that
    was busy restarts the transaction), with this process's own holds taken off (`took`):
    another process's are found when the site is locked; room freed meanwhile is missed
    for at most that long, as a transaction's own reads of a site are kept for its whole
    length."""

    sites: dict[str, SiteRecord]
    with_slots: frozenset[str]
    free_slots: dict[tuple[str, str], int]  # (site, size): free slots no hold claims
    held: dict[tuple[str, str], int]  # (site, size): held reservations
    held_at: dict[str, int]  # site: held reservations of any size

    @classmethod
    def read(cls, session: StoreSession) -> CapacityHints:
        """Four queries over the network's sites, slots and held reservations."""
        held: dict[tuple[str, str], int] = {}
        held_at: dict[str, int] = {}
        for reservation in session.held_reservations():
            key = (reservation.site, reservation.size)
            held[key] = held.get(key, 0) + 1
            held_at[reservation.site] = held_at.get(reservation.site, 0) + 1
        return cls(
            sites={record.site: record for record in session.list_sites()},
            with_slots=frozenset(site for site, _, _ in session.slot_state_counts()),
            free_slots={(site, size): n for site, size, n in session.free_slot_counts()},
            held=held,
            held_at=held_at,
        )

    def free_compartments(
        self, site: str, size: str, declared: Callable[[str], dict[str, int]]
    ) -> int:
        """As StoreCapacity._read_free, from what was read (`declared`: the plan's)."""
        if site in self.with_slots:
            return self.free_slots.get((site, size), 0)
        return declared(site).get(size, 0) - self.held.get((site, size), 0)

    def took(self, site: str, size: str, *, slot_named: bool) -> None:
        """This process held capacity at `site` (of `size`, or "shelf"; `slot_named` if the
        hold names a free slot): the hints, kept for the next transactions, show it."""
        self.held[(site, size)] = self.held.get((site, size), 0) + 1
        self.held_at[site] = self.held_at.get(site, 0) + 1
        if slot_named and (site, size) in self.free_slots:
            self.free_slots[(site, size)] -= 1

    def counter_room(self, site: str) -> int:
        """As StoreCapacity.counter_room, from what was read."""
        record = self.sites.get(site)
        if record is None or not record.shelf_capacity:
            return 0
        return record.shelf_capacity - (record.shelf_used or 0) - self.held_at.get(site, 0)


@dataclass
class HintsKept:
    """One wave's CapacityHints, read again once older than HINTS_MAX_AGE_S."""

    hints: CapacityHints | None = None
    read_at: float = 0.0

    def get(self, session: StoreSession) -> CapacityHints:
        if self.hints is None or time.monotonic() - self.read_at > HINTS_MAX_AGE_S:
            self.hints, self.read_at = CapacityHints.read(session), time.monotonic()
        return self.hints
