"""A site's page: its slots bank by bank, each with what central knows of it, its faults,
its open alarms and the scans it refused.

Slot ids are a bank's letter and the lock's number ("A01" .. "A16", "B01" ..): the grid has
one row per bank, one cell per slot. A cell's `css` is its colour class on the page and in
the live updates (central/web/console/live.py), so both draw a slot the same way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from central.operator.alarms import AlarmLine, open_alarms
from central.operator.fleet import SiteView, fleet
from central.store import SiteRecord, StoreView
from central.store.queries.audit import AuditEntry
from central.web.console.island import SiteState, site_state
from protocols.messages import SlotState

# A slot id's bank: its leading letters (the board it is wired to in the sites we run).
_BANK = re.compile(r"^([A-Za-z]*)")

# The operator calls on a site's slots the page lists, newest first, with their outcomes.
RECENT_COMMANDS = 20

# The cell colour of each slot state; the open states share one (a door is moving).
SLOT_CSS: dict[str, str] = {
    SlotState.FREE: "free",
    SlotState.RESERVED: "reserved",
    SlotState.OCCUPIED: "occupied",
    SlotState.OPEN_FOR_DEPOSIT: "open",
    SlotState.OPEN_FOR_PICKUP: "open",
    SlotState.OPEN_FOR_REMOVAL: "open",
    SlotState.OUT_OF_SERVICE: "out_of_service",
    SlotState.FAULT: "fault",
}


@dataclass(frozen=True)
class SlotCell:
    """One slot as the grid shows it; `title` is its hover text, `css` its colour class."""

    slot: str
    size: str
    state: str
    css: str
    door: str
    ir: str  # the IR occupancy sensor: "occupied", "empty" or "?"
    parcel: str | None
    reserved_for: str | None
    reservation_until: float | None
    faults: tuple[str, ...]
    in_service: bool

    @property
    def title(self) -> str:
        """What hovering over the cell says, one fact a line."""
        lines = [
            f"{self.slot} ({self.size}): {self.state.replace('_', ' ')}",
            f"door {self.door}, IR {self.ir}",
        ]
        if self.parcel:
            lines.append(f"contents {self.parcel}")
        if self.reserved_for:
            lines.append(f"reserved for {self.reserved_for}")
        lines.extend(f"fault {f}" for f in self.faults)
        return "\n".join(lines)


@dataclass(frozen=True)
class Refusals:
    """Scans the site refused for one reason."""

    reason: str
    count: int
    last_at: float | None
    last_detail: str | None


@dataclass(frozen=True)
class SitePage:
    """Everything the site page shows. `last_heard`: when central last heard from the site
    (a heartbeat, status, event or state; central's clock), as `lockernet fleet` says it."""

    record: SiteRecord
    summary: SiteView | None
    last_heard: float | None
    state: SiteState
    banks: tuple[tuple[str, tuple[SlotCell, ...]], ...]
    alarms: tuple[AlarmLine, ...]
    refusals: tuple[Refusals, ...]
    faults: tuple[str, ...]  # the site's faults that are on no slot
    commands: tuple[AuditEntry, ...] = ()  # operators' remote opens and service switches


def slot_cells(view: StoreView, record: SiteRecord) -> list[SlotCell]:
    """Every slot of the site as central last heard it, in slot order."""
    site = record.site
    held = {r.slot: r for r in view.held_reservations(site) if r.slot}
    faults: dict[str, list[str]] = defaultdict(list)
    for fault in record.faults:
        if fault.ref:
            faults[fault.ref].append(_fault_text(fault.component, fault.code, fault.detail))
    cells = []
    for slot in sorted(view.list_slots(site), key=lambda s: s.slot):
        reservation = held.get(slot.slot)
        state = str(slot.state)
        ir = {True: "occupied", False: "empty", None: "?"}[slot.occupied]
        cells.append(
            SlotCell(
                slot=slot.slot,
                size=slot.size,
                state=state,
                # A free slot central holds for a parcel on its way shows as reserved.
                css="reserved"
                if state == SlotState.FREE and reservation is not None
                else SLOT_CSS.get(state, "unknown"),
                door=slot.door or "unknown",
                ir=ir,
                parcel=slot.parcel,
                reserved_for=slot.reserved_for or (reservation.label if reservation else None),
                reservation_until=reservation.until if reservation else None,
                faults=tuple(faults.get(slot.slot, ())),
                in_service=state != SlotState.OUT_OF_SERVICE,
            )
        )
    return cells


def banks(cells: list[SlotCell]) -> tuple[tuple[str, tuple[SlotCell, ...]], ...]:
    """The cells grouped by bank, banks in order."""
    grouped: dict[str, list[SlotCell]] = defaultdict(list)
    for cell in cells:
        match = _BANK.match(cell.slot)
        grouped[(match.group(1) if match else "") or "-"].append(cell)
    return tuple((bank, tuple(grouped[bank])) for bank in sorted(grouped))


def site_page(view: StoreView, record: SiteRecord) -> SitePage:
    """The site page's model, read from one snapshot."""
    summary = next((s for s in fleet(view).sites if s.site == record.site), None)
    cells = slot_cells(view, record)
    slot_ids = {c.slot for c in cells}
    loose = tuple(
        _fault_text(f.component, f.code, f.detail) + (f" on {f.ref}" if f.ref else "")
        for f in record.faults
        if f.ref not in slot_ids
    )
    alarms = tuple(a for a in open_alarms(view) if a.site == record.site)
    refusals = tuple(
        Refusals(r.reason, r.count, r.last_at, r.last_detail)
        for r in view.scan_refusals(record.site)
    )
    liveness = view.get_liveness(record.site)
    return SitePage(
        record=record,
        summary=summary,
        last_heard=liveness.heard_at if liveness is not None else None,
        state=site_state(summary) if summary is not None else SiteState.UNKNOWN,
        banks=banks(cells),
        alarms=alarms,
        refusals=refusals,
        faults=loose,
        commands=tuple(view.audit_entries(RECENT_COMMANDS, site=record.site)),
    )


def _fault_text(component: object, code: str, detail: str | None) -> str:
    text = f"{component}: {code}"
    return f"{text} ({detail})" if detail else text
