"""`lockernet fleet --site X`: one site in detail — its link and when it was last heard,
its compartments by state, its faults, open alarms and refused scans by reason.

Built from what a store view reads (a read-only snapshot or a transaction); every time is
shown in the network's local time (protocols/localtime.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from central.errors import UnknownSite
from central.operator.console import plain_text, table
from central.operator.fleet import SiteView, fleet
from central.store import AlarmRecord, SiteRecord, StoreView
from central.store.queries.refusals import RefusalRecord
from protocols.localtime import timestamp
from protocols.messages import Fault


@dataclass(frozen=True)
class SiteDetail:
    record: SiteRecord
    summary: SiteView
    last_heard: float | None  # central's clock
    slots: dict[str, list[str]]  # slot state -> slot ids, sorted
    alarms: list[AlarmRecord]
    refusals: list[RefusalRecord]

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self.record.faults


def site_detail(view: StoreView, site: str) -> SiteDetail:
    """One site's detail; UnknownSite if the registry has no such site."""
    record = view.get_site(site)
    if record is None:
        raise UnknownSite(site)
    summary = next(s for s in fleet(view).sites if s.site == site)
    liveness = view.get_liveness(site)
    slots: dict[str, list[str]] = defaultdict(list)
    for slot in view.list_slots(site):
        slots[str(slot.state)].append(slot.slot)
    return SiteDetail(
        record=record,
        summary=summary,
        last_heard=liveness.heard_at if liveness is not None else None,
        slots={state: sorted(ids) for state, ids in sorted(slots.items())},
        alarms=[a for a in view.list_alarms() if a.site == site],
        refusals=view.scan_refusals(site),
    )


def render_site(detail: SiteDetail) -> RenderableType:
    """The site's detail as the operator reads it."""
    record, summary = detail.record, detail.summary
    heard = timestamp(detail.last_heard) if detail.last_heard is not None else "never"
    head = [
        f"site {record.site} ({summary.kind}){f': {record.name}' if record.name else ''}",
        f"link {summary.link}; last heard {heard}"
        + (f"; agent {record.agent_version}" if record.agent_version else "")
        + (f"; broker {record.broker}" if record.broker else ""),
    ]
    if summary.kind == "counter" and record.shelf_capacity is not None:
        head.append(f"shelves {record.shelf_used or 0}/{record.shelf_capacity} used")
    total = sum(len(ids) for ids in detail.slots.values())
    head.append(f"compartments {total}" + (":" if total else " reported"))
    parts: list[RenderableType] = [Text("\n".join(head))]
    if detail.slots:
        grid = table("state", "count", "slots", numeric=("count",))
        for state, ids in detail.slots.items():
            grid.add_row(state, str(len(ids)), " ".join(ids))
        parts.append(grid)
    parts.append(Text(f"faults {len(detail.faults)}" + (":" if detail.faults else "")))
    if detail.faults:
        grid = table("component", "code", "ref", "since", "detail")
        for fault in detail.faults:
            grid.add_row(
                str(fault.component),
                fault.code,
                fault.ref or "",
                timestamp(fault.since),
                fault.detail or "",
            )
        parts.append(grid)
    parts.append(Text(f"open alarms {len(detail.alarms)}" + (":" if detail.alarms else "")))
    if detail.alarms:
        grid = table("id", "opened", "kind", "ref", "detail", numeric=("id",))
        for alarm in detail.alarms:
            grid.add_row(
                str(alarm.id), timestamp(alarm.opened_at), alarm.kind, alarm.ref, alarm.detail or ""
            )
        parts.append(grid)
    count = sum(r.count for r in detail.refusals)
    parts.append(Text(f"refused scans {count}" + (" by reason:" if count else "")))
    if detail.refusals:
        grid = table("reason", "count", "last", "last detail", numeric=("count",))
        for refusal in detail.refusals:
            grid.add_row(
                refusal.reason,
                str(refusal.count),
                timestamp(refusal.last_at),
                refusal.last_detail or "",
            )
        parts.append(grid)
    return Group(*parts)


def format_site(detail: SiteDetail) -> str:
    """`render_site` as plain text."""
    return plain_text(render_site(detail))
