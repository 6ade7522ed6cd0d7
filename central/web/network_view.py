"""The operator API's read models of the network: sites with their occupancy, link and
alarms (filtered and sorted as asked), one site's slots, and a site's planning area.

Built from a store view (one read-only snapshot per request), over the fleet table's read
model (central/operator/fleet.py), so the API and `lockernet fleet` count alike.
"""

from __future__ import annotations

import enum
import math

from central.errors import UnknownSite
from central.operator.fleet import SiteView, fleet
from central.sites.network import TOWNS
from central.store import StoreView
from central.web.api_models import NetworkOut, ReservationOut, SiteOut, SitesOut, SlotOut


class SiteFilter(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    FULL = "full"
    ALARMS = "alarms"


class SiteKindFilter(enum.StrEnum):
    LOCKER = "locker"
    COUNTER = "counter"


class SiteSort(enum.StrEnum):
    PROBLEMS = "problems"  # offline first, then by open alarms, faults, fullness
    ID = "id"


def area_of(lat: float | None, lon: float | None) -> str | None:
    """The planning area whose town centre is nearest (lat, lon); None if unplaced."""
    if lat is None or lon is None:
        return None
    # Equirectangular distance is exact enough across one island a degree wide.
    scale = math.cos(math.radians(lat))
    nearest = min(TOWNS, key=lambda t: (t.lat - lat) ** 2 + ((t.lon - lon) * scale) ** 2)
    return nearest.name


def _full(s: SiteView) -> bool:
    if s.kind == "counter":
        return s.shelf_capacity is not None and (s.shelf_used or 0) >= s.shelf_capacity
    return s.slots > 0 and s.free == 0


def list_sites(
    view: StoreView,
    state: SiteFilter | None = None,
    kind: SiteKindFilter | None = None,
    sort: SiteSort = SiteSort.ID,
    q: str | None = None,
) -> SitesOut:
    """Every site matching the filters (`q`: part of the id or name, any case), with the
    whole network's totals."""
    views = fleet(view).sites
    records = {r.site: r for r in view.list_sites()}
    heard = {r.site: r.heard_at for r in view.list_liveness()}
    rows = [_site_out(s, records[s.site].name, records[s.site], heard.get(s.site)) for s in views]
    network = NetworkOut(
        sites=len(rows),
        online=sum(1 for r in rows if r.online),
        offline=sum(1 for r in rows if r.online is False),
        never_heard=sum(1 for r in rows if r.online is None),
        full=sum(1 for r in rows if r.full),
        open_alarms=sum(r.open_alarms for r in rows),
        compartments=sum(r.slots for r in rows),
        occupied=sum(r.occupied for r in rows),
    )
    if state is SiteFilter.ONLINE:
        rows = [r for r in rows if r.online]
    elif state is SiteFilter.OFFLINE:
        rows = [r for r in rows if r.online is False]
    elif state is SiteFilter.FULL:
        rows = [r for r in rows if r.full]
    elif state is SiteFilter.ALARMS:
        rows = [r for r in rows if r.open_alarms]
    if kind is not None:
        rows = [r for r in rows if r.kind == kind.value]
    if q:
        needle = q.casefold()
        rows = [r for r in rows if needle in r.id.casefold() or needle in (r.name or "").casefold()]
    if sort is SiteSort.PROBLEMS:
        rows.sort(
            key=lambda r: (r.online is not False, -r.open_alarms, -r.faults, not r.full, r.id)
        )
    else:
        rows.sort(key=lambda r: r.id)
    return SitesOut(network=network, sites=rows)


def one_site(view: StoreView, site: str) -> SiteOut:
    """One site's line; UnknownSite if it is not in the registry."""
    record = view.get_site(site)
    if record is None:
        raise UnknownSite(site)
    found = next(s for s in fleet(view).sites if s.site == site)
    liveness = view.get_liveness(site)
    return _site_out(found, record.name, record, liveness.heard_at if liveness else None)


def _site_out(s: SiteView, name: str | None, record: object, heard_at: float | None) -> SiteOut:
    lat = getattr(record, "lat", None)
    lon = getattr(record, "lon", None)
    return SiteOut(
        id=s.site,
        name=name,
        kind=s.kind,
        area=area_of(lat, lon),
        online=s.online,
        last_heard_at=heard_at,
        slots=s.slots,
        occupied=s.occupied,
        free=s.free,
        reserved=s.reserved,
        out_of_service=s.out_of_service,
        shelf_capacity=s.shelf_capacity,
        shelf_used=s.shelf_used,
        full=_full(s),
        faults=s.faults,
        open_alarms=s.open_alarms,
    )


def site_slots(view: StoreView, site: str) -> list[SlotOut]:
    """Each slot the site reported: its state, door, sensor, contents, fault and held
    reservation. UnknownSite if the site is not in the registry."""
    record = view.get_site(site)
    if record is None:
        raise UnknownSite(site)
    faults = {f.ref: f"{f.component.value}/{f.code}" for f in record.faults if f.ref}
    held = {r.slot: r for r in view.held_reservations(site) if r.slot}
    out = []
    for slot in view.list_slots(site):
        reservation = held.get(slot.slot)
        out.append(
            SlotOut(
                id=slot.slot,
                size=slot.size,
                state=slot.state.value,
                door=slot.door,
                occupied=slot.occupied,
                parcel=slot.parcel,
                reserved_for=slot.reserved_for,
                fault=faults.get(slot.slot),
                reservation=None
                if reservation is None
                else ReservationOut(
                    parcel=reservation.label,
                    size=reservation.size,
                    until=reservation.until,
                    status=reservation.status.value,
                ),
                updated_at=slot.updated_at,
            )
        )
    return out
