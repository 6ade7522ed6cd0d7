"""`lockernet fleet`: the network at a glance, one line a site.

The read model (`fleet`) is built from what a store view reads, so it runs over a read-only
snapshot (central/store/read.py) as well as inside a transaction. `select` filters it (by
state and kind) and sorts it (by id, or problems first); one site in detail is
central/operator/site_detail.py.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter, defaultdict
from collections.abc import Callable
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
    # Ever heard by central (a heartbeat, status, event or state): a site whose link is
    # unknown now (its broker unreachable) was heard; one never heard from was not.
    heard: bool = False

    @property
    def link(self) -> str:
        """ "online", "offline", "unknown" (heard before; now central cannot say) or "never"."""
        if self.online is not None:
            return "online" if self.online else "offline"
        return "unknown" if self.heard else "never"

    @property
    def full(self) -> bool:
        """No room for another parcel: no free compartment, or the counter's shelves full."""
        if self.kind == "counter" and self.shelf_capacity is not None:
            return (self.shelf_used or 0) >= self.shelf_capacity
        return self.slots > 0 and self.free == 0


@dataclass(frozen=True)
class FleetView:
    sites: list[SiteView]

    @property
    def online(self) -> int:
        return sum(1 for s in self.sites if s.online)

    @property
    def offline(self) -> int:
        return sum(1 for s in self.sites if s.online is False)

    def count(self, link: str) -> int:
        """Sites whose link is `link` (SiteView.link)."""
        return sum(1 for s in self.sites if s.link == link)


class FleetState(enum.StrEnum):
    """What `lockernet fleet --state` picks."""

    ONLINE = "online"
    OFFLINE = "offline"
    FULL = "full"
    ALARMS = "alarms"
    NEVER = "never"  # never heard from


class FleetSort(enum.StrEnum):
    ID = "id"
    PROBLEMS = "problems"  # open alarms first (most first), then offline, then faults


def _problems_first(s: SiteView) -> tuple[int, bool, int, int, str]:
    return (-s.open_alarms, s.online is not False, -s.faults, -s.out_of_service, s.site)


_STATE_TEST: dict[FleetState, Callable[[SiteView], bool]] = {
    FleetState.ONLINE: lambda s: s.online is True,
    FleetState.OFFLINE: lambda s: s.online is False,
    FleetState.FULL: lambda s: s.full,
    FleetState.ALARMS: lambda s: s.open_alarms > 0,
    FleetState.NEVER: lambda s: s.link == "never",
}


def select(
    view: FleetView,
    *,
    state: FleetState | None = None,
    kind: str | None = None,
    sort: FleetSort = FleetSort.ID,
) -> FleetView:
    """The sites in `state` (any if None) of `kind` ("locker", "counter"; any if None), by
    id or problems first (open alarms, most first; then offline; then faults; then id)."""
    test = _STATE_TEST[state] if state is not None else None
    chosen = [
        s for s in view.sites if (test is None or test(s)) and (kind is None or s.kind == kind)
    ]
    if sort is FleetSort.PROBLEMS:
        chosen.sort(key=_problems_first)
    else:
        chosen.sort(key=lambda s: s.site)
    return FleetView(chosen)


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
    liveness = view.list_liveness()
    offsets = {r.site: r.clock_offset_s for r in liveness}
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
                heard=record.site in offsets
                or record.status_at is not None
                or record.snapshot_at is not None
                or stream is not None,
            )
        )
    return FleetView(views)


_NUMERIC = ("occupied", "free", "resv", "oos", "faults", "alarms", "deposits", "pickups", "clock")


def render_fleet(
    view: FleetView, limit: int | None = None, shown: FleetView | None = None
) -> RenderableType:
    """The network's totals (`view`), then a table of the first `limit` (all if None) of
    `shown` (a `select` of it; all of it if None)."""
    occupied = sum(s.occupied for s in view.sites)
    summary = Text(
        f"sites {len(view.sites)}: online {view.online}, offline {view.offline}, "
        f"link unknown {view.count('unknown')}, never heard from {view.count('never')}\n"
        f"compartments reported {sum(s.slots for s in view.sites)}: occupied {occupied}, "
        f"free {sum(s.free for s in view.sites)}, reserved {sum(s.reserved for s in view.sites)}, "
        f"out of service {sum(s.out_of_service for s in view.sites)}\n"
        f"sites with faults {sum(1 for s in view.sites if s.faults)}, open alarms "
        f"{sum(s.open_alarms for s in view.sites)}\n"
    )
    sites = table("site", "kind", "link", *_NUMERIC, numeric=_NUMERIC)
    listed = (shown or view).sites
    for s in listed if limit is None else listed[:limit]:
        link = "OFFLINE" if s.link == "offline" else s.link
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
    parts: list[RenderableType] = [summary]
    if shown is not None:
        parts.append(Text(f"{len(listed)} of {len(view.sites)} sites match"))
    parts.append(sites if listed else Text("no site matches"))
    if limit is not None and len(listed) > limit:
        parts.append(Text(f"... and {len(listed) - limit} more sites"))
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
