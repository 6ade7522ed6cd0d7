"""`lockernet fleet`: the network at a glance, one line a site.

The read model (`fleet`) is built from what a store view reads, so it runs over a read-only
snapshot (central/store/read.py) as well as inside a transaction.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from central.operator.console import plain_text, table
from central.store import StoreView, StreamCursor
from protocols.messages import SlotState


@dataclass(frozen=True)
class SiteView:
    site: str
    kind: str
    online: bool | None
    slots: int
    occupied: int
    free: int
    reserved: int
    out_of_service: int
    shelf_capacity: int | None
    shelf_used: int | None
    faults: int
    open_alarms: int
    applied_seq: int
    deposits: int
    pickups: int
    clock_offset_s: float | None = None  # the site's clock minus central's, smoothed


@dataclass(frozen=True)
class FleetView:
    sites: list[SiteView]

    @property
    def online(self) -> int:
        return sum(1 for s in self.sites if s.online)

    @property
    def offline(self) -> int:
        return sum(1 for s in self.sites if s.online is False)


def fleet(view: StoreView) -> FleetView:
    """Every site in the registry with its link, compartments, faults, alarms and stream."""
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for site, state, count in view.slot_state_counts():
        states[site][state] += count
    alarms = Counter(a.site for a in view.list_alarms())
    # A site that restarted or rewound its stream has had several: its counts are their sum,
    # its applied seq the current one's.
    site_streams: dict[str, StreamCursor] = {}
    for each in view.list_streams():
        earlier = site_streams.get(each.site)
        site_streams[each.site] = (
            each
            if earlier is None
            else dataclasses.replace(
                each,
                deposits=each.deposits + earlier.deposits,
                pickups=each.pickups + earlier.pickups,
            )
        )
    held = Counter(r.site for r in view.held_reservations())
    offsets = {r.site: r.clock_offset_s for r in view.list_liveness()}
    views = []
    for record in view.list_sites():
        counts = states.get(record.site, Counter())
        stream = site_streams.get(record.site)
        views.append(
            SiteView(
                site=record.site,
                kind=record.kind or "unknown",  # heard from, not in the network file
                online=record.online,
                slots=sum(counts.values()),
                occupied=counts[SlotState.OCCUPIED.value],
                free=counts[SlotState.FREE.value],
                reserved=max(counts[SlotState.RESERVED.value], held[record.site]),
                out_of_service=counts[SlotState.OUT_OF_SERVICE.value]
                + counts[SlotState.FAULT.value],
                shelf_capacity=record.shelf_capacity,
                shelf_used=record.shelf_used,
                faults=len(record.faults),
                open_alarms=alarms[record.site],
                applied_seq=stream.applied_seq if stream else 0,
                deposits=stream.deposits if stream else 0,
                pickups=stream.pickups if stream else 0,
                clock_offset_s=offsets.get(record.site),
            )
        )
    return FleetView(views)


_NUMERIC = ("occupied", "free", "resv", "oos", "faults", "alarms", "deposits", "pickups", "clock")


def render_fleet(view: FleetView, limit: int | None = None) -> RenderableType:
    """The totals, then a table of the first `limit` sites (all if None)."""
    unknown = len(view.sites) - view.online - view.offline
    occupied = sum(s.occupied for s in view.sites)
    summary = Text(
        f"sites {len(view.sites)}: online {view.online}, offline {view.offline}, "
        f"never heard from {unknown}\n"
        f"compartments reported {sum(s.slots for s in view.sites)}: occupied {occupied}, "
        f"free {sum(s.free for s in view.sites)}, reserved {sum(s.reserved for s in view.sites)}, "
        f"out of service {sum(s.out_of_service for s in view.sites)}\n"
        f"sites with faults {sum(1 for s in view.sites if s.faults)}, open alarms "
        f"{sum(s.open_alarms for s in view.sites)}\n"
    )
    sites = table("site", "kind", "link", *_NUMERIC, numeric=_NUMERIC)
    shown = view.sites if limit is None else view.sites[:limit]
    for s in shown:
        link = {True: "online", False: "OFFLINE", None: "?"}[s.online]
        if s.kind == "counter" and s.shelf_capacity is not None:
            occupied_text = f"{s.shelf_used or 0}/{s.shelf_capacity}"
        else:
            occupied_text = f"{s.occupied}/{s.slots}"
        sites.add_row(
            s.site,
            s.kind,
            Text(link, style="bold red" if s.online is False else ""),
            occupied_text,
            str(s.free),
            str(s.reserved),
            str(s.out_of_service),
            str(s.faults),
            str(s.open_alarms),
            str(s.deposits),
            str(s.pickups),
            _offset_text(s.clock_offset_s),
        )
    parts: list[RenderableType] = [summary, sites]
    if limit is not None and len(view.sites) > limit:
        parts.append(Text(f"... and {len(view.sites) - limit} more sites"))
    return Group(*parts)


def format_fleet(view: FleetView, limit: int | None = None) -> str:
    """`render_fleet` as plain text."""
    return plain_text(render_fleet(view, limit))


def _offset_text(offset: float | None) -> str:
    """A site's clock offset for the fleet table: "+4.0h", "-12s", "?" if never measured."""
    if offset is None:
        return "?"
    if abs(offset) >= 3600:
        return f"{offset / 3600:+.1f}h"
    if abs(offset) >= 120:
        return f"{offset / 60:+.0f}m"
    return f"{offset:+.0f}s"
