"""The fleet registry: every site from the network file, kept current by the sites' own
retained status (online, or offline by its last will) and full-state snapshots.

Each central process subscribes to status and state without sharing, so each sees all of
them; applying one is idempotent and an older message never overwrites a newer one.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from central.sites import site_reconciliation, streams
from central.sites.alarms import FAULT_ALARM, AlarmKind, clear_alarm, raise_alarm, site_online
from central.sites.network import Network, NetworkSite
from central.store import SiteRecord, SlotRecord, StoreSession, StreamCursor
from protocols.messages import SiteStatus, StateSnapshot


def load_network(session: StoreSession, network: Network) -> int:
    """Register the network's sites (what the site itself reported is kept). Returns the
    number of sites new to the registry."""
    added = 0
    # Sorted, as every writer takes sites' locks; a site whose record already says what the
    # plan says is left alone (at a restart, nearly all: no lock, no write).
    for site in sorted(network.sites, key=lambda s: s.id):
        seen = session.get_site(site.id)
        if seen is not None and _planned(seen, site) == seen:
            continue
        # Changed or new: under the site's lock, read again and write, so what ingest wrote
        # to it meanwhile (its shelf, online) is kept, not overwritten by the read above.
        session.lock_site(site.id)
        known = session.get_site(site.id)
        if known is None:
            added += 1
        session.save_site(_planned(known, site))
    return added


def _planned(known: SiteRecord | None, site: NetworkSite) -> SiteRecord:
    """The site's record with the network plan's fields (what the site reported is kept)."""
    known = known or SiteRecord(site=site.id, kind=site.kind)
    return dataclasses.replace(
        known,
        kind=site.kind,
        name=site.name,
        lat=site.lat,
        lon=site.lon,
        # A counter's snapshot reports its shelf capacity; until then, the plan's.
        shelf_capacity=(
            known.shelf_capacity if known.snapshot_at is not None else (site.shelf_capacity or None)
        ),
        compartments={size.value: n for size, n in site.compartments.items()},
    )


def apply_status(
    session: StoreSession,
    status: SiteStatus,
    now: float,
    source: str,
    *,
    dropped_at: float | None = None,
    detail: str | None = None,
) -> None:
    """A site's retained status, in the order the broker delivered it. An offline one
    raises `site_offline` dated `dropped_at` (default `now`), saying `detail` if given.

    Not ordered by `at`: a last will carries the time its connection was made, which is
    before the "online" that connection then published, yet it comes after it.
    """
    known = session.get_site(status.site) or SiteRecord(site=status.site, kind=None)
    session.save_site(
        dataclasses.replace(
            known,
            online=status.online,
            status_at=status.at,
            boot_id=status.boot_id,
            agent_version=status.agent_version or known.agent_version,
        )
    )
    if status.online and known.online is not True:
        site_online(session, status.site, now)
    elif status.online:
        # Already online (a retained status replayed, or heard first): nothing to say.
        clear_alarm(session, status.site, AlarmKind.SITE_OFFLINE, now)
    else:
        raise_alarm(
            session,
            status.site,
            AlarmKind.SITE_OFFLINE,
            # Central's clock: a last will carries the time its connection was made (hours
            # before it fires), and a site's clock is evidence, not truth.
            now if dropped_at is None else dropped_at,
            detail=detail or "the site's link is down (last will or orderly stop)",
            source=source,
        )


def apply_snapshot(
    session: StoreSession, snapshot: StateSnapshot, now: float, live: bool = True
) -> bool:
    """A site's full state. Returns False for one of a stream the site has left.

    Ordered by the site's stream (epoch) and sequence, never by its clock (`at`): a site
    whose clock ran hours ahead and was then corrected sends snapshots "earlier" than the
    last, and each is still its newest word. A snapshot of a new epoch starts a new stream
    (central/sites/streams.py); the first snapshot of a restarted or rewound stream replaces
    central's view of the site's slots, and what differed is raised (STATE_DIFFERS).

    Slots are taken from the snapshot only if it has seen every event central applied of
    its stream (its last_seq is at least central's): an older picture would undo newer
    events, so one behind is raised (SNAPSHOT_BEHIND) instead — when it is `live`: a
    retained snapshot the broker replays on subscription, or restores from its persistence
    after a restart, is an old picture by nature and tells nothing. A snapshot that has seen
    more events than central received tells central events are missing, and the gap
    check asks for them if they do not arrive.
    """
    source = f"site {snapshot.site} state"
    # A live snapshot is the site's store now: a closed stream of its epoch is reopened (a
    # store put back). A retained one may be a picture from before the site moved on.
    stream = streams.stream_for(session, snapshot.site, snapshot.epoch, now, source, resumes=live)
    if not stream.current:
        return False
    known = session.get_site(snapshot.site) or SiteRecord(snapshot.site, snapshot.kind)
    session.save_site(
        dataclasses.replace(
            known,
            kind=snapshot.kind,
            shelf_capacity=snapshot.shelf_capacity
            if snapshot.shelf_capacity is not None
            else known.shelf_capacity,
            shelf_used=snapshot.shelf_used,
            snapshot_at=snapshot.at,
            snapshot_seq=snapshot.last_seq,
            boot_id=snapshot.boot_id,
            agent_version=snapshot.versions.get("agent", known.agent_version),
            faults=tuple(snapshot.faults),
        )
    )
    if snapshot.last_seq >= stream.applied_seq:
        slots = [
            SlotRecord(
                site=snapshot.site,
                slot=slot.slot,
                size=slot.size.value,
                state=slot.state,
                parcel=slot.parcel,
                reserved_for=slot.reserved_for,
                occupied=slot.occupied,
                door=slot.door.value,
                updated_at=now,  # central's clock: the site's may be anywhere
            )
            for slot in snapshot.slots
        ]
        reconciling = not stream.reconciled
        if reconciling:
            _raise_differences(session, stream, session.list_slots(snapshot.site), slots, now)
            stream = session.save_stream(dataclasses.replace(stream, reconciled=True))
        session.replace_slots(snapshot.site, slots)
        if reconciling:
            # Not only alarmed: reservations the site lost are sent again, parcels it no
            # longer knows go to a technician's check.
            site_reconciliation.reconcile_stream(session, stream, snapshot, now)
    elif live and not streams.taken_before_next(session, stream, snapshot):
        raise_alarm(
            session,
            snapshot.site,
            AlarmKind.SNAPSHOT_BEHIND,
            now,
            ref=f"{stream.epoch}:{snapshot.last_seq}",
            detail=f"the site's state is at seq {snapshot.last_seq} of stream "
            f"{stream.epoch or '(no epoch)'}, central applied {stream.applied_seq}: its store "
            "may have lost writes; central keeps its own view of the slots",
            source=source,
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


# An alarm's detail lists this many differing slots, then how many more there are.
DIFFERENCES_LISTED = 12


def _raise_differences(
    session: StoreSession,
    stream: StreamCursor,
    before: list[SlotRecord],
    after: list[SlotRecord],
    now: float,
) -> None:
    """A new stream's snapshot replaces central's view: raise what central believed that
    the site does not (a parcel central has in a slot the site calls free, and so on)."""
    old = {s.slot: s for s in before}
    new = {s.slot: s for s in after}
    differing = []
    for slot in sorted(old.keys() | new.keys()):
        was, now_ = old.get(slot), new.get(slot)
        was_text = f"{was.state} {was.parcel or ''}".strip() if was else "absent"
        now_text = f"{now_.state} {now_.parcel or ''}".strip() if now_ else "absent"
        if was_text != now_text:
            differing.append(f"{slot}: central {was_text}, site {now_text}")
    if not differing:
        return
    shown = "; ".join(differing[:DIFFERENCES_LISTED])
    more = len(differing) - DIFFERENCES_LISTED
    raise_alarm(
        session,
        stream.site,
        AlarmKind.STATE_DIFFERS,
        now,
        ref=f"{stream.epoch}:{stream.base_seq}",
        detail=(
            f"after the {stream.cause} of its event stream the site's slots replaced central's; "
            f"{len(differing)} differed: {shown}" + (f" (and {more} more)" if more > 0 else "")
        ),
        source=f"site {stream.site} state",
    )


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
