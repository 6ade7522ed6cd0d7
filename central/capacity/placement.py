"""Where a parcel is delivered: the delivery-point choice, free of I/O.

The rule (architecture.md, flow 2): the consumer's chosen locker if it has a free compartment
that fits; else the nearest locker with a free compartment that fits, within a configurable
distance; else the nearest collection point with room, within its own distance; else home
delivery. Within a locker, best fit: the smallest compartment class the parcel fits in.
A consumer who asked for a collection point gets the same walk with counters first; one who
asked for home delivery gets it.

Capacity is read and taken through a `CapacityView`: the caller's store backs it and makes
each `reserve_*` atomic, so two placements racing for the last compartment cannot both win.
A reservation that fails (someone else took the space) sends the placement on to the next
candidate; nothing is ever reported as reserved that the view did not grant.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from central.capacity.geo import distance_km, to_km
from central.sites.network import SIZE_ORDER, SIZE_RANK, Network, NetworkSite
from protocols.messages import SiteKind, SizeClass

# A consumer walks to a locker up to this far from home (km, straight line) by default.
DEFAULT_MAX_LOCKER_DISTANCE_KM = 1.5
# A staffed counter is a bigger trip, usually combined with errands: a little farther.
DEFAULT_MAX_COUNTER_DISTANCE_KM = 3.0
# Grid cell of the spatial index: about the search radius, so a query reads ~9-16 cells.
DEFAULT_CELL_KM = 1.0


class DeliveryMode(enum.StrEnum):
    LOCKER = "locker"
    COUNTER = "counter"
    HOME = "home"


class PlacementRule(enum.StrEnum):
    """Which step of the rule placed the parcel: operators and tests read it."""

    CHOSEN_LOCKER = "chosen_locker"
    NEAREST_LOCKER = "nearest_locker"
    CHOSEN_COUNTER = "chosen_counter"
    NEAREST_COUNTER = "nearest_counter"
    HOME_CHOSEN = "home_chosen"
    HOME_FALLBACK = "home_fallback"


class PlaceableParcel(Protocol):
    """What placement needs to know of a parcel (a ParcelAnnouncement is one)."""

    @property
    def label(self) -> str: ...
    @property
    def size(self) -> SizeClass: ...
    @property
    def dest_lat(self) -> float: ...
    @property
    def dest_lon(self) -> float: ...
    @property
    def preferred_mode(self) -> str | None: ...
    @property
    def preferred_site(self) -> str | None: ...


class CapacityView(Protocol):
    """Free capacity per site, and atomic reservation of one unit of it.

    `free_compartments` and `counter_room` may be stale by the time `reserve_*` is called;
    the `reserve_*` methods are the truth: they take one unit and return True, or take
    nothing and return False.
    """

    def free_compartments(self, site: str, size: SizeClass) -> int: ...
    def counter_room(self, site: str) -> int: ...
    def reserve_compartment(self, site: str, size: SizeClass, parcel: str) -> bool: ...
    def reserve_shelf(self, site: str, parcel: str) -> bool: ...


@dataclass(frozen=True)
class Placement:
    """Where one parcel goes, and what was reserved for it there."""

    parcel: str
    mode: DeliveryMode
    rule: PlacementRule
    site: str | None = None
    compartment: SizeClass | None = None  # the class of compartment reserved (lockers)
    distance_km: float = 0.0  # from the consumer's address to the site


@dataclass(frozen=True)
class PlacementPolicy:
    max_locker_distance_km: float = DEFAULT_MAX_LOCKER_DISTANCE_KM
    max_counter_distance_km: float = DEFAULT_MAX_COUNTER_DISTANCE_KM

    def __post_init__(self) -> None:
        for name in ("max_locker_distance_km", "max_counter_distance_km"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a distance of 0 km or more, not {value}")


class SpatialIndex:
    """Sites on a uniform grid of `cell_km` squares: "which sites within r km" in O(nearby)."""

    def __init__(self, sites: Iterable[NetworkSite], cell_km: float = DEFAULT_CELL_KM) -> None:
        if not cell_km > 0:
            raise ValueError("grid cell size must be positive")
        self._cell = cell_km
        self._cells: dict[tuple[int, int], list[tuple[float, float, NetworkSite]]] = defaultdict(
            list
        )
        self._count = 0
        for site in sites:
            x, y = to_km(site.lat, site.lon)
            self._cells[self._key(x, y)].append((x, y, site))
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def _key(self, x: float, y: float) -> tuple[int, int]:
        return math.floor(x / self._cell), math.floor(y / self._cell)

    def within(self, lat: float, lon: float, radius_km: float) -> list[tuple[float, NetworkSite]]:
        """(distance, site) for every site within `radius_km`, nearest first."""
        x, y = to_km(lat, lon)
        x0, y0 = self._key(x - radius_km, y - radius_km)
        x1, y1 = self._key(x + radius_km, y + radius_km)
        found: list[tuple[float, NetworkSite]] = []
        for cx in range(x0, x1 + 1):
            for cy in range(y0, y1 + 1):
                for sx, sy, site in self._cells.get((cx, cy), ()):
                    d = math.hypot(sx - x, sy - y)
                    if d <= radius_km:
                        found.append((d, site))
        found.sort(key=lambda pair: (pair[0], pair[1].id))
        return found

    def nearest(self, lat: float, lon: float, count: int) -> list[tuple[float, NetworkSite]]:
        """The `count` nearest sites (fewer if the index holds fewer), nearest first."""
        found: list[tuple[float, NetworkSite]] = []
        if count > 0:
            for pair in self.by_distance(lat, lon, math.inf):
                found.append(pair)
                if len(found) == count:
                    break
        return found

    def by_distance(
        self, lat: float, lon: float, radius_km: float
    ) -> Iterator[tuple[float, NetworkSite]]:
        """(distance, site) within `radius_km`, nearest first, read lazily ring by ring.

        Placement usually stops at the first or second site, so it pays only for the cells
        near the address, not for sorting every site within the radius.
        """
        if self._count == 0:
            return
        x, y = to_km(lat, lon)
        cx, cy = self._key(x, y)
        pending: list[tuple[float, str, NetworkSite]] = []
        visited = 0
        ring = 0
        while True:
            for key in _ring(cx, cy, ring):
                for sx, sy, site in self._cells.get(key, ()):
                    visited += 1
                    d = math.hypot(sx - x, sy - y)
                    if d <= radius_km:
                        heapq.heappush(pending, (d, site.id, site))
            # Every site beyond this ring is at least `ring` whole cells away.
            settled = ring * self._cell
            while pending and pending[0][0] <= settled:
                d, _, site = heapq.heappop(pending)
                yield d, site
            if settled > radius_km or visited == self._count:
                while pending:
                    d, _, site = heapq.heappop(pending)
                    yield d, site
                return
            ring += 1


def _ring(cx: int, cy: int, ring: int) -> Iterator[tuple[int, int]]:
    """The grid cells at Chebyshev distance `ring` from (cx, cy)."""
    if ring == 0:
        yield cx, cy
        return
    for dx in range(-ring, ring + 1):
        yield cx + dx, cy - ring
        yield cx + dx, cy + ring
    for dy in range(-ring + 1, ring):
        yield cx - ring, cy + dy
        yield cx + ring, cy + dy


class Placer:
    """Places parcels on one network's sites by the rule, against a capacity view."""

    def __init__(self, network: Network, policy: PlacementPolicy | None = None) -> None:
        self.policy = policy or PlacementPolicy()
        self._sites = network.site_by_id
        self._lockers = SpatialIndex(network.lockers())
        self._counters = SpatialIndex(network.counters())

    def place(self, parcel: PlaceableParcel, view: CapacityView) -> Placement:
        if parcel.preferred_mode == "home":
            return Placement(parcel.label, DeliveryMode.HOME, PlacementRule.HOME_CHOSEN)
        chosen = self._sites.get(parcel.preferred_site) if parcel.preferred_site else None
        if chosen is not None:
            placed = self._try_site(parcel, chosen, view, chosen=True)
            if placed is not None:
                return placed
        counters_first = parcel.preferred_mode == "counter" or (
            chosen is not None and chosen.kind is SiteKind.COUNTER
        )
        order = (self._nearest_counter, self._nearest_locker)
        if not counters_first:
            order = (self._nearest_locker, self._nearest_counter)
        for step in order:
            placed = step(parcel, view)
            if placed is not None:
                return placed
        return Placement(parcel.label, DeliveryMode.HOME, PlacementRule.HOME_FALLBACK)

    def place_all(self, parcels: Sequence[PlaceableParcel], view: CapacityView) -> list[Placement]:
        """Place parcels in the order given (the caller decides who goes first)."""
        return [self.place(parcel, view) for parcel in parcels]

    def _try_site(
        self, parcel: PlaceableParcel, site: NetworkSite, view: CapacityView, *, chosen: bool
    ) -> Placement | None:
        distance = distance_km(parcel.dest_lat, parcel.dest_lon, site.lat, site.lon)
        if site.kind is SiteKind.LOCKER:
            for size in SIZE_ORDER[SIZE_RANK[parcel.size] :]:
                if site.compartments.get(size, 0) == 0:
                    continue
                if view.free_compartments(site.id, size) > 0 and view.reserve_compartment(
                    site.id, size, parcel.label
                ):
                    rule = PlacementRule.CHOSEN_LOCKER if chosen else PlacementRule.NEAREST_LOCKER
                    return Placement(
                        parcel.label, DeliveryMode.LOCKER, rule, site.id, size, distance
                    )
            return None
        if view.counter_room(site.id) > 0 and view.reserve_shelf(site.id, parcel.label):
            rule = PlacementRule.CHOSEN_COUNTER if chosen else PlacementRule.NEAREST_COUNTER
            return Placement(parcel.label, DeliveryMode.COUNTER, rule, site.id, None, distance)
        return None

    def _nearest_locker(self, parcel: PlaceableParcel, view: CapacityView) -> Placement | None:
        near = self._lockers.by_distance(
            parcel.dest_lat, parcel.dest_lon, self.policy.max_locker_distance_km
        )
        for _, site in near:
            placed = self._try_site(parcel, site, view, chosen=False)
            if placed is not None:
                return placed
        return None

    def _nearest_counter(self, parcel: PlaceableParcel, view: CapacityView) -> Placement | None:
        near = self._counters.by_distance(
            parcel.dest_lat, parcel.dest_lon, self.policy.max_counter_distance_km
        )
        for _, site in near:
            placed = self._try_site(parcel, site, view, chosen=False)
            if placed is not None:
                return placed
        return None


class InMemoryCapacity:
    """A CapacityView over plain counters: for tests, benchmarks and what-if planning.

    Starts from a network's full capacity (everything free) unless told otherwise.
    """

    def __init__(
        self,
        compartments: dict[tuple[str, SizeClass], int],
        shelves: dict[str, int],
    ) -> None:
        for key, value in (*compartments.items(), *shelves.items()):
            if value < 0:
                raise ValueError(f"free capacity of {key} cannot be negative")
        self._free = dict(compartments)
        self._room = dict(shelves)
        self.reservations: dict[str, tuple[str, SizeClass | None]] = {}

    @classmethod
    def empty_network(cls, network: Network) -> InMemoryCapacity:
        compartments = {
            (site.id, size): count
            for site in network.lockers()
            for size, count in site.compartments.items()
        }
        shelves = {site.id: site.shelf_capacity for site in network.counters()}
        return cls(compartments, shelves)

    def free_compartments(self, site: str, size: SizeClass) -> int:
        return self._free.get((site, size), 0)

    def counter_room(self, site: str) -> int:
        return self._room.get(site, 0)

    def reserve_compartment(self, site: str, size: SizeClass, parcel: str) -> bool:
        if parcel in self.reservations or self._free.get((site, size), 0) <= 0:
            return False
        self._free[(site, size)] -= 1
        self.reservations[parcel] = (site, size)
        return True

    def reserve_shelf(self, site: str, parcel: str) -> bool:
        if parcel in self.reservations or self._room.get(site, 0) <= 0:
            return False
        self._room[site] -= 1
        self.reservations[parcel] = (site, None)
        return True
