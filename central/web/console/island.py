"""The console's island map: every site a dot on Singapore's outline, coloured by its state.

Drawn from the sites' own coordinates and the coarse coastline central already keeps
(central/capacity/geo.py), on an equirectangular projection (at 1.35° N a degree of
longitude is 0.9997 of one of latitude's length: no visible distortion across 50 km). No map
tiles: the console works on a network with no way to the internet.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from central.capacity.geo import KM_PER_DEG_LAT, KM_PER_DEG_LON, MAIN_ISLAND
from central.operator.fleet import FleetView, SiteView
from central.store import SiteRecord

# The drawing's width in SVG units; its height follows the island's proportions.
MAP_WIDTH = 1000.0
# Degrees of margin around the island and the sites, so a dot on the coast is whole.
MARGIN_DEG = 0.01


class SiteState(enum.StrEnum):
    """What the map colours a site by, the most urgent first (a site that is offline and has
    alarms is shown offline: that is what a technician must fix first)."""

    OFFLINE = "offline"
    ALARMS = "alarms"
    FULL = "full"
    ONLINE = "online"
    UNKNOWN = "unknown"  # never heard from since central knew it


def site_state(site: SiteView) -> SiteState:
    """The site's state on the map and in the live updates."""
    if site.online is False:
        return SiteState.OFFLINE
    if site.open_alarms:
        return SiteState.ALARMS
    if site.online is None:
        return SiteState.UNKNOWN
    if site.kind == "counter" and site.shelf_capacity is not None:
        if (site.shelf_used or 0) >= site.shelf_capacity:
            return SiteState.FULL
    elif site.slots and site.free == 0:
        return SiteState.FULL
    return SiteState.ONLINE


@dataclass(frozen=True)
class Dot:
    """One site on the map, in SVG units (y grows downwards)."""

    site: str
    name: str
    kind: str
    state: SiteState
    x: float
    y: float
    free: int
    slots: int
    alarms: int


@dataclass(frozen=True)
class IslandMap:
    """The map page's model: the outline, the dots, and the counts at the top."""

    width: float
    height: float
    coast: str  # the outline as SVG polygon points "x,y x,y ..."
    dots: tuple[Dot, ...]
    counts: dict[str, int]  # SiteState value -> sites in it, every state present
    unplaced: int  # sites central knows no coordinates for (not drawn)


class Projection:
    """Latitude and longitude to SVG units, over a box that holds the island and `points`."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        lats = [lat for lat, _ in MAIN_ISLAND] + [lat for lat, _ in points]
        lons = [lon for _, lon in MAIN_ISLAND] + [lon for _, lon in points]
        self.south = min(lats) - MARGIN_DEG
        self.north = max(lats) + MARGIN_DEG
        self.west = min(lons) - MARGIN_DEG
        self.east = max(lons) + MARGIN_DEG
        wide_km = (self.east - self.west) * KM_PER_DEG_LON
        high_km = (self.north - self.south) * KM_PER_DEG_LAT
        self.scale = MAP_WIDTH / wide_km  # SVG units per km
        self.width = MAP_WIDTH
        self.height = high_km * self.scale

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        """The point's place in the drawing, rounded to a tenth of a unit."""
        x = (lon - self.west) * KM_PER_DEG_LON * self.scale
        y = (self.north - lat) * KM_PER_DEG_LAT * self.scale
        return round(x, 1), round(y, 1)


def island_map(fleet: FleetView, records: Iterable[SiteRecord]) -> IslandMap:
    """The map of `fleet`'s sites, placed by their `records`' coordinates and named by their
    names (a site with no coordinates is counted, not drawn)."""
    known = {r.site: r for r in records if r.lat is not None and r.lon is not None}
    projection = Projection(
        [(r.lat, r.lon) for r in known.values() if r.lat is not None and r.lon is not None]
    )
    coast = " ".join(f"{x},{y}" for x, y in (projection.xy(lat, lon) for lat, lon in MAIN_ISLAND))
    dots = []
    counts: Counter[str] = Counter()
    for view in fleet.sites:
        state = site_state(view)
        counts[state.value] += 1
        record = known.get(view.site)
        if record is None or record.lat is None or record.lon is None:
            continue
        x, y = projection.xy(record.lat, record.lon)
        free = view.free if view.kind != "counter" else _shelf_free(view)
        slots = view.slots if view.kind != "counter" else (view.shelf_capacity or 0)
        name = record.name or view.site
        dots.append(Dot(view.site, name, view.kind, state, x, y, free, slots, view.open_alarms))
    return IslandMap(
        width=projection.width,
        height=round(projection.height, 1),
        coast=coast,
        dots=tuple(dots),
        counts={state.value: counts[state.value] for state in SiteState},
        unplaced=len(fleet.sites) - len(dots),
    )


def _shelf_free(view: SiteView) -> int:
    if view.shelf_capacity is None:
        return 0
    return max(0, view.shelf_capacity - (view.shelf_used or 0))
