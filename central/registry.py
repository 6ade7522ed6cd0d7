"""The fleet registry: every site from the network file, kept current by the sites' own
retained status (online, or offline by its last will) and full-state snapshots.

Each central process subscribes to status and state without sharing, so each sees all of
them; applying one is idempotent and an older message never overwrites a newer one.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from central.alarms import FAULT_ALARM, AlarmKind, clear_alarm, raise_alarm
from central.network import Network
from central.store import SiteRecord, SlotRecord, StoreSession
from protocols.messages import SiteStatus, SlotState, StateSnapshot

UNKNOWN_KIND = "unknown"


def load_network(session: StoreSession, network: Network) -> int:
    """Register the network's sites (what the site itself reported is kept). Returns the
    number of sites new to the registry."""
    added = 0
    for site in network.sites:
        compartments = json.dumps({size.value: n for size, n in site.compartments.items()})
        known = session.get_site(site.id)
        if known is None:
            added += 1
            known = SiteRecord(site=site.id, kind=site.kind.value)
        session.save_site(
            dataclasses.replace(
                known,
                kind=site.kind.value,
                name=site.name,
                lat=site.lat,
                lon=site.lon,
                # A counter's snapshot reports its shelf capacity; until then, the plan's.
                shelf_capacity=(
                    known.shelf_capacity
                    if known.snapshot_at is not None
                    else (site.shelf_capacity or None)
                ),
                compartments_json=compartments,
            )
        )
    return added


def apply_status(session: StoreSession, status: SiteStatus, now: float, source: str) -> None:
    """A site's retained status, in the order the broker delivered it.

    Not ordered by `at`: a last will carries the time its connection was made, which is
    before the "online" that connection then published, yet it comes after it.
    """
    known = session.get_site(status.site) or SiteRecord(site=status.site, kind=UNKNOWN_KIND)
    session.save_site(
        dataclasses.replace(
            known,
            online=status.online,
            status_at=status.at,
            boot_id=status.boot_id,
            agent_version=status.agent_version or known.agent_version,
        )
    )
    if status.online:
        clear_alarm(session, status.site, AlarmKind.SITE_OFFLINE, now)
    else:
        raise_alarm(
            session,
            status.site,
            AlarmKind.SITE_OFFLINE,
            status.at,
            detail="the site's link is down (last will or orderly stop)",
            source=source,
        )


def apply_snapshot(session: StoreSession, snapshot: StateSnapshot, now: float) -> bool:
    """A site's full state. Returns False for one older than what central has.

    Slots are taken from the snapshot only if it has seen every event central applied
    (its last_seq is at least central's): an older picture would undo newer events. A
    snapshot that has seen more events than central received tells central events are
    missing, and the gap check asks for them if they do not arrive.
    """
    known = session.get_site(snapshot.site) or SiteRecord(snapshot.site, snapshot.kind.value)
    if known.snapshot_at is not None and snapshot.at < known.snapshot_at:
        return False
    stream = session.stream(snapshot.site)
    session.save_site(
        dataclasses.replace(
            known,
            kind=snapshot.kind.value,
            shelf_capacity=snapshot.shelf_capacity
            if snapshot.shelf_capacity is not None
            else known.shelf_capacity,
            shelf_used=snapshot.shelf_used,
            snapshot_at=snapshot.at,
            snapshot_seq=snapshot.last_seq,
            boot_id=snapshot.boot_id,
            agent_version=snapshot.versions.get("agent", known.agent_version),
            faults_json=json.dumps([f.model_dump(mode="json") for f in snapshot.faults]),
        )
    )
    if snapshot.last_seq >= stream.applied_seq:
        session.replace_slots(
            snapshot.site,
            [
                SlotRecord(
                    site=snapshot.site,
                    slot=slot.slot,
                    size=slot.size.value,
                    state=slot.state.value,
                    parcel=slot.parcel,
                    reserved_for=slot.reserved_for,
                    occupied=slot.occupied,
                    door=slot.door.value,
                    updated_at=snapshot.at,
                )
                for slot in snapshot.slots
            ],
        )
    if snapshot.last_seq > stream.max_received_seq:
        session.save_stream(
            dataclasses.replace(
                stream,
                max_received_seq=snapshot.last_seq,
                gap_since=stream.gap_since if stream.gap_since is not None else now,
            )
        )
    _reconcile_fault_alarms(session, snapshot, now)
    return True


def _reconcile_fault_alarms(session: StoreSession, snapshot: StateSnapshot, now: float) -> None:
    """The snapshot lists every fault the site has now: open what is missing, clear the rest."""
    present: dict[AlarmKind, set[str]] = defaultdict(set)
    for fault in snapshot.faults:
        kind = FAULT_ALARM.get(fault.component)
        if kind is None:
            continue
        ref = fault.ref or ""
        present[kind].add(ref)
        raise_alarm(
            session,
            snapshot.site,
            kind,
            fault.since,
            ref=ref,
            detail=fault.code + (f": {fault.detail}" if fault.detail else ""),
            source=f"site {snapshot.site} state",
        )
    for alarm in session.list_alarms():
        if alarm.site != snapshot.site:
            continue
        kind = AlarmKind(alarm.kind)
        if kind in FAULT_ALARM.values() and alarm.ref not in present.get(kind, set()):
            clear_alarm(session, snapshot.site, kind, now, alarm.ref)


# ------------------------------------------------------------------------------- fleet


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


@dataclass(frozen=True)
class FleetView:
    sites: list[SiteView]

    @property
    def online(self) -> int:
        return sum(1 for s in self.sites if s.online)

    @property
    def offline(self) -> int:
        return sum(1 for s in self.sites if s.online is False)


def fleet(session: StoreSession) -> FleetView:
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for site, state, count in session.slot_state_counts():
        states[site][state] += count
    alarms = Counter(a.site for a in session.list_alarms())
    streams = {s.site: s for s in session.list_streams()}
    held = Counter(r.site for r in session.held_reservations())
    views = []
    for record in session.list_sites():
        counts = states.get(record.site, Counter())
        stream = streams.get(record.site)
        views.append(
            SiteView(
                site=record.site,
                kind=record.kind,
                online=record.online,
                slots=sum(counts.values()),
                occupied=counts[SlotState.OCCUPIED.value],
                free=counts[SlotState.FREE.value],
                reserved=max(counts[SlotState.RESERVED.value], held[record.site]),
                out_of_service=counts[SlotState.OUT_OF_SERVICE.value]
                + counts[SlotState.FAULT.value],
                shelf_capacity=record.shelf_capacity,
                shelf_used=record.shelf_used,
                faults=len(json.loads(record.faults_json)),
                open_alarms=alarms[record.site],
                applied_seq=stream.applied_seq if stream else 0,
                deposits=stream.deposits if stream else 0,
                pickups=stream.pickups if stream else 0,
            )
        )
    return FleetView(views)


def format_fleet(view: FleetView, limit: int | None = None) -> str:
    unknown = len(view.sites) - view.online - view.offline
    total_slots = sum(s.slots for s in view.sites)
    occupied = sum(s.occupied for s in view.sites)
    lines = [
        f"sites {len(view.sites)}: online {view.online}, offline {view.offline}, "
        f"never heard from {unknown}",
        f"compartments reported {total_slots}: occupied {occupied}, "
        f"free {sum(s.free for s in view.sites)}, reserved {sum(s.reserved for s in view.sites)}, "
        f"out of service {sum(s.out_of_service for s in view.sites)}",
        f"sites with faults {sum(1 for s in view.sites if s.faults)}, open alarms "
        f"{sum(s.open_alarms for s in view.sites)}",
        "",
        f"{'site':<14}{'kind':<9}{'link':<9}{'occupied':>10}{'free':>6}{'resv':>6}"
        f"{'oos':>5}{'faults':>8}{'alarms':>8}{'deposits':>10}{'pickups':>9}",
    ]
    shown = view.sites if limit is None else view.sites[:limit]
    for s in shown:
        link = {True: "online", False: "OFFLINE", None: "?"}[s.online]
        if s.kind == "counter" and s.shelf_capacity is not None:
            occupied_text = f"{s.shelf_used or 0}/{s.shelf_capacity}"
        else:
            occupied_text = f"{s.occupied}/{s.slots}"
        lines.append(
            f"{s.site:<14}{s.kind:<9}{link:<9}{occupied_text:>10}{s.free:>6}{s.reserved:>6}"
            f"{s.out_of_service:>5}{s.faults:>8}{s.open_alarms:>8}{s.deposits:>10}{s.pickups:>9}"
        )
    if limit is not None and len(view.sites) > limit:
        lines.append(f"... and {len(view.sites) - limit} more sites")
    return "\n".join(lines)
