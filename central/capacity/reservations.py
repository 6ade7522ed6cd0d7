"""Reserving where each parcel goes, without ever over-booking, and letting reservations lapse.

Placement (central.capacity.placement) decides; this module gives it a `CapacityView` backed by the
store. Capacity is checked and taken inside one store transaction: BEGIN IMMEDIATE in
SQLite (a row lock on the site in PostgreSQL) serialises every writer, and a unique index
allows one held reservation per slot and per parcel. Two processes or threads racing for a
locker's last compartment therefore cannot both get it.

Each reservation is told to its site as a signed ReserveSlot command that carries the time
it lapses; central lapses it too if no parcel came by then.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from central.capacity.dispatch import DispatchParcel, HandlingCapacity, dispatch_wave, stop_for
from central.capacity.hints import HINTS_FROM_PARCELS, CapacityHints, HintsKept
from central.capacity.placement import DeliveryMode, Placement, PlacementPolicy, Placer
from central.errors import StoreConflict
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.promise import URGENT
from central.parcels.steps import CENTRAL, take_step
from central.sites.commands import queue_command
from central.sites.network import Network
from central.store import (
    CentralStore,
    ParcelRecord,
    ReservationRecord,
    ReservationStatus,
    StoreSession,
)
from protocols.messages import Reply, ResendState, ReserveSlot, SizeClass

log = logging.getLogger(__name__)

# Parcels placed per transaction: big enough to amortise the commit, small enough that the
# write lock is never held long against ingest.
PLACEMENT_CHUNK = 500
# Parcels that have a courier on the way: what a courier's remaining capacity is net of
# (a parcel redirected after a failed home delivery is still on its courier's van).
IN_HAND = (
    ParcelState.ASSIGNED.value,
    ParcelState.OUT_FOR_DELIVERY.value,
    ParcelState.REDIRECTED.value,
)


class SiteBusy(Exception):
    """A site another transaction holds, met by placement while holding other sites."""

    def __init__(self, site: str) -> None:
        super().__init__(site)
        self.site = site


class StoreCapacity:
    """A placement CapacityView over the store, valid inside one transaction.

    What it reads is kept for the rest of the transaction and kept current by its own
    reservations. Without this a full locker was asked again for every parcel near it, and a
    wave that had filled the lockers took minutes to place (seconds with it). A site's
    figures are final only once read after `lock_site(site)` in this transaction: every
    writer of a site's capacity (ingest, placement, lapses) takes that lock first, so from
    then on no one else changes them. Before it (on a store where writers do not all queue
    for one database lock) they are a hint for choosing between sites, read again when the
    site is locked to reserve there.
    """

    def __init__(self, session: StoreSession, now: float, hold_s: float) -> None:
        self._session = session
        self._now = now
        self._hold_s = hold_s
        # What to choose between sites by before locking one; None: read site by site.
        self.hints: CapacityHints | None = None
        self.busy: set[str] = set()  # sites another transaction held when asked
        self._compartments: dict[str, dict[str, int]] = {}
        self._free: dict[tuple[str, str], int] = {}
        self._free_slots: dict[tuple[str, str], list[str]] = {}
        self._room: dict[str, int] = {}
        self._locked: set[str] = set()
        self.made: dict[str, ReservationRecord] = {}

    def lock(self, site: str) -> None:
        """Take the site's lock for this transaction; what was read of it before is dropped,
        to be read again under the lock.

        Placement meets sites in order of distance, not in the sorted order every other
        writer locks in, and by then it holds the row of the parcel it claimed: waiting
        here could close a cycle with ingest (which holds its sites and then wants a
        parcel's row) or with another process placing the same parcels. So it never waits
        here: a lock is taken only if it is free, SiteBusy if not (and at once for the rest
        of the transaction), and the caller leaves that parcel to a new transaction that
        waits for the busy sites first, before it claims anything (`prelock`).
        """
        if site in self._locked:
            return
        if site in self.busy or not self._session.try_lock_site(site):
            self.busy.add(site)  # busy for the rest of this transaction: not asked again
            raise SiteBusy(site)
        self._mark_locked(site)

    def prelock(self, sites: set[str]) -> None:
        """Lock `sites` first, in the sorted order, waiting for them (at the start of a
        transaction, while it holds nothing)."""
        self._session.lock_sites(sites)
        for site in sites:
            self._mark_locked(site)

    @property
    def locked(self) -> set[str]:
        """The sites this transaction holds the lock of."""
        return set(self._locked)

    def _mark_locked(self, site: str) -> None:
        self._locked.add(site)
        for key in [k for k in self._free if k[0] == site]:
            del self._free[key]
            self._free_slots.pop(key, None)
        self._room.pop(site, None)

    def _declared(self, site: str) -> dict[str, int]:
        if site not in self._compartments:
            # The network plan's figures: the hints' copy is as good as the site's row.
            hints = self.hints
            record = hints.sites.get(site) if hints else self._session.get_site(site)
            self._compartments[site] = dict(record.compartments) if record else {}
        return self._compartments[site]

    def free_compartments(self, site: str, size: SizeClass) -> int:
        key = (site, size.value)
        if key not in self._free:
            if self.hints is not None and site not in self._locked:
                self._free[key] = self.hints.free_compartments(site, size.value, self._declared)
            else:
                self._free[key] = self._read_free(site, size.value)
        return self._free[key]

    def _read_free(self, site: str, size: str) -> int:
        session = self._session
        if session.has_slots(site):
            # The site told central its slots: free ones no reservation holds, less holds
            # the site has not yet shown on a slot.
            slots = session.free_slots(site, size)
            self._free_slots[(site, size)] = slots
            return len(slots) - session.held_count(site, size, unplaced=True)
        # Never heard from the site: the network plan's compartments, less what is held.
        self._free_slots[(site, size)] = []
        return self._declared(site).get(size, 0) - session.held_count(site, size)

    def counter_room(self, site: str) -> int:
        if site not in self._room:
            if self.hints is not None and site not in self._locked:
                self._room[site] = self.hints.counter_room(site)
                return self._room[site]
            record = self._session.get_site(site)
            if record is None or not record.shelf_capacity:
                self._room[site] = 0
            else:
                used = record.shelf_used or 0
                self._room[site] = record.shelf_capacity - used - self._session.held_count(site)
        return self._room[site]

    def reserve_compartment(self, site: str, size: SizeClass, parcel: str) -> bool:
        self.lock(site)
        if self.free_compartments(site, size) <= 0:
            return False
        slots = self._free_slots[(site, size.value)]
        if not self._hold(site, size.value, parcel, slots[0] if slots else None):
            # Held already (this parcel, or that slot): what was read is in doubt, read again.
            self._free.pop((site, size.value), None)
            return False
        named = bool(slots)
        if slots:
            slots.pop(0)
        self._free[(site, size.value)] -= 1
        if self.hints is not None:
            self.hints.took(site, size.value, slot_named=named)
        return True

    def reserve_shelf(self, site: str, parcel: str) -> bool:
        self.lock(site)
        if self.counter_room(site) <= 0:
            return False
        if not self._hold(site, "shelf", parcel, None):
            return False
        self._room[site] -= 1
        if self.hints is not None:
            self.hints.took(site, "shelf", slot_named=False)
        return True

    def _hold(self, site: str, size: str, parcel: str, slot: str | None) -> bool:
        try:
            made = self._session.add_reservation(
                ReservationRecord(
                    label=parcel,
                    site=site,
                    size=size,
                    created_at=self._now,
                    until=self._now + self._hold_s,
                    slot=slot,
                )
            )
        except StoreConflict:
            return False
        self.made[parcel] = made
        return True


@dataclass(frozen=True)
class _Placeable:
    """A stored parcel as placement sees it."""

    label: str
    size: SizeClass
    dest_lat: float
    dest_lon: float
    preferred_mode: str | None
    preferred_site: str | None
    dispatched_at: float


def _placeable(record: ParcelRecord) -> _Placeable:
    return _Placeable(
        label=record.label,
        size=SizeClass(record.size or SizeClass.M.value),
        dest_lat=record.lat or 0.0,
        dest_lon=record.lon or 0.0,
        preferred_mode=record.delivery_mode,
        preferred_site=record.preferred_site,
        dispatched_at=record.dispatched_at or record.announced_at or 0.0,
    )


@dataclass
class WaveResult:
    placed: int = 0
    lockers: int = 0
    counters: int = 0
    home: int = 0
    couriers_assigned: int = 0
    without_courier: int = 0
    placements: list[Placement] = field(default_factory=list)
    seconds: float = 0.0  # the whole wave's wall time
    dispatch_s: float = 0.0  # of which assigning partners and couriers (dispatch_wave)


@dataclass
class _Wave:
    """What one `place` call carries from chunk to chunk."""

    remaining: HandlingCapacity
    result: WaveResult = field(default_factory=WaveResult)
    hints: HintsKept = field(default_factory=HintsKept)


@dataclass
class Reservations:
    store: CentralStore
    network: Network
    hold_s: float
    policy: PlacementPolicy = field(default_factory=PlacementPolicy)

    def __post_init__(self) -> None:
        self.placer = Placer(self.network, self.policy)

    def place(self, labels: Sequence[str], now: float) -> WaveResult:
        """Place, reserve and assign partner and courier for announced parcels, as one wave
        (committed in chunks). Labels not in the announced state are skipped."""
        started = time.perf_counter()
        wave = _Wave(self._remaining_capacity())
        result = wave.result
        pending = list(labels)
        prelock: set[str] = set()
        while pending:
            chunk, pending = pending[:PLACEMENT_CHUNK], pending[PLACEMENT_CHUNK:]
            left, prelock = self._place_chunk(chunk, now, wave, prelock)
            pending = left + pending
        result.seconds = time.perf_counter() - started
        if result.placed:
            log.info(
                "wave placed: %s of %s parcels (%s lockers, %s counters, %s home; %s without a "
                "courier) in %.2f s, dispatch %.2f s",
                result.placed,
                len(labels),
                result.lockers,
                result.counters,
                result.home,
                result.without_courier,
                result.seconds,
                result.dispatch_s,
            )
        return result

    def _remaining_capacity(self) -> HandlingCapacity:
        remaining = HandlingCapacity.full_day(self.network)
        with self.store.transaction() as session:
            loads = session.courier_loads(IN_HAND)
        for partner, courier, count in loads:
            if courier in remaining.couriers:
                remaining.couriers[courier] = max(0, remaining.couriers[courier] - count)
            if partner in remaining.partners:
                remaining.partners[partner] = max(0, remaining.partners[partner] - count)
        return remaining

    def _place_chunk(
        self,
        labels: Sequence[str],
        now: float,
        wave: _Wave,
        prelock: set[str],
    ) -> tuple[list[str], set[str]]:
        """Place what of `labels` this transaction can; returns the labels it left (each
        met a busy site: see StoreCapacity.lock) and the sites the next transaction must
        lock first."""
        left: list[str] = []
        with self.store.transaction() as session:
            capacity = StoreCapacity(session, now, self.hold_s)
            capacity.prelock(prelock)
            # Read after the wait for the busy sites; a few parcels (a timer's stragglers)
            # are cheaper read site by site.
            if len(labels) >= HINTS_FROM_PARCELS:
                capacity.hints = wave.hints.get(session)
            records: dict[str, ParcelRecord] = {}
            placements: list[tuple[Placement, _Placeable]] = []
            claimed = _claim(session, labels)
            for label in labels:
                record = claimed.get(label)
                if record is None:
                    continue
                parcel = _placeable(record)
                try:
                    placement = self.placer.place(parcel, capacity)
                except SiteBusy:
                    # Not placed (a placement holds nothing until its one reservation):
                    # left to the next transaction, and the rest placed in this one.
                    left.append(label)
                    continue
                records[label] = record
                placements.append((placement, parcel))
            # The next transaction waits for the busy sites first; with nothing placed in
            # this one, for every site it met too, so each such retry locks more and the
            # wave always moves on.
            next_prelock = set(capacity.busy) if left else set()
            if left and not placements:
                next_prelock |= capacity.locked
            self._assign(session, capacity, placements, records, now=now, wave=wave)
        return left, next_prelock

    def _assign(
        self,
        session: StoreSession,
        capacity: StoreCapacity,
        placements: list[tuple[Placement, _Placeable]],
        records: dict[str, ParcelRecord],
        *,
        now: float,
        wave: _Wave,
    ) -> None:
        """Give the chunk's placed parcels their partners and couriers, and record each
        parcel's ASSIGN step (and tell a site of its reservation) in `session`."""
        parcels = [
            DispatchParcel(
                placement.parcel,
                stop_for(placement, parcel.dest_lat, parcel.dest_lon, self.network),
                parcel.dispatched_at,
                at_risk=records[placement.parcel].sla_state in URGENT,
            )
            for placement, parcel in placements
        ]
        dispatch_started = time.perf_counter()
        dispatched = dispatch_wave(parcels, self.network, wave.remaining) if parcels else None
        wave.result.dispatch_s += time.perf_counter() - dispatch_started
        couriers = {a.parcel: a for a in dispatched.assignments} if dispatched else {}
        for placement, _ in placements:
            record = records[placement.parcel]
            reservation = capacity.made.get(placement.parcel)
            assignment = couriers.get(placement.parcel)
            detail = _describe(placement, reservation)
            if assignment is None:
                detail += "; no courier has capacity left"
                wave.result.without_courier += 1
            else:
                detail += f"; {assignment.partner} courier {assignment.courier}"
                wave.result.couriers_assigned += 1
            take_step(
                session,
                record,
                ParcelStep.ASSIGN,
                at=now,
                source=CENTRAL,
                now=now,
                detail=detail,
                site=placement.site,
                slot=reservation.slot if reservation else None,
                delivery_mode=placement.mode.value,
                partner=assignment.partner if assignment else None,
                courier=assignment.courier if assignment else None,
            )
            if reservation is not None:
                size = placement.compartment or SizeClass(record.size or "M")
                tell_site(session, reservation, size, now)
            wave.result.placed += 1
            wave.result.placements.append(placement)
            if placement.mode is DeliveryMode.LOCKER:
                wave.result.lockers += 1
            elif placement.mode is DeliveryMode.COUNTER:
                wave.result.counters += 1
            else:
                wave.result.home += 1

    # -------------------------------------------------------------------------- lapse

    def lapse_due(self, now: float) -> list[str]:
        """Lapse every held reservation past its time; returns the parcels affected."""
        lapsed: list[str] = []
        with self.store.transaction() as session:
            due = session.held_reservations_until(now)
            # The sites' locks (sorted, as ingest takes them) before the parcels are read: a
            # deposit applied meanwhile fulfils the reservation instead, and another
            # process lapsing the same ones finds them no longer held.
            session.lock_sites({r.site for r in due})
            for reservation in due:
                why = "no parcel came before the reservation lapsed"
                if _lapse(session, reservation, now, why):
                    lapsed.append(reservation.label)
        return lapsed


@runtime_checkable
class _ChunkClaim(Protocol):
    def claim_parcels(
        self, labels: Iterable[str], states: Iterable[str]
    ) -> dict[str, ParcelRecord]: ...


def _claim(session: StoreSession, labels: Sequence[str]) -> dict[str, ParcelRecord]:
    """The chunk's parcels still announced, each held by this transaction, by label.

    Another process's timer may be placing the same waiting parcels, in label order while
    a wave goes in the manifest's order: claimed one by one in those orders, waiting for
    each, the two deadlocked. So the chunk is taken in one query, in label order, after the
    sites it prelocks (and before any site it only tries): a parcel another process is
    placing is waited for and found placed, and the chunk's parcels are placed together
    (dispatch assigns couriers over the whole chunk, as one process would)."""
    wanted = [ParcelState.ANNOUNCED.value]
    if isinstance(session, _ChunkClaim):
        return session.claim_parcels(labels, wanted)
    claimed = (session.claim_parcel(label, wanted) for label in labels)
    return {record.label: record for record in claimed if record is not None}


def tell_site(
    session: StoreSession, reservation: ReservationRecord, size: SizeClass, now: float
) -> int:
    """Queue the signed ReserveSlot that tells the site of a held reservation (in the
    caller's transaction; returns the task id). Placement sends it once; a site whose store
    was lost or rolled back is sent it again (central/sites/site_reconciliation.py). The site
    answers a repeated one with the slot it already holds."""
    return queue_command(
        session,
        reservation.site,
        ReserveSlot(
            parcel=reservation.label,
            size=size,
            until=reservation.until,
            slot=reservation.slot,
        ),
        now,
        label=reservation.label,
        expires_at=reservation.until,
    )


def reserved_size(reservation: ReservationRecord, parcel: ParcelRecord | None) -> SizeClass:
    """The compartment size a held reservation asks the site for: the size it holds (a
    locker's), else the parcel's (a counter's shelf), else M as placement assumes."""
    try:
        return SizeClass(reservation.size)
    except ValueError:
        return SizeClass((parcel.size if parcel else None) or SizeClass.M.value)


def _lapse(session: StoreSession, reservation: ReservationRecord, now: float, why: str) -> bool:
    """Lapse a held reservation and step its parcel back; False (nothing done) if it was no
    longer held: ended meanwhile by a deposit, a refusal or another process's lapse."""
    assert reservation.id is not None
    if not session.end_held_reservation(reservation.id, ReservationStatus.LAPSED):
        return False
    record = session.get_parcel(reservation.label)
    if record is not None and record.state in IN_HAND:
        take_step(
            session,
            record,
            ParcelStep.RESERVATION_LAPSED,
            at=now,
            source=CENTRAL,
            now=now,
            detail=f"{why} at {reservation.site}",
            site=None,
            slot=None,
        )
    return True


def refused_reservation(session: StoreSession, reply: Reply, now: float) -> bool:
    """A site refused a ReserveSlot: the reservation lapses so the parcel can be placed
    again. Returns True if a held reservation was lapsed."""
    command = session.get_command(reply.command_id)
    if command is None or command.type != "reserve_slot":
        return False
    label = json.loads(command.body).get("parcel")
    reservation = session.held_reservation(label) if isinstance(label, str) else None
    if reservation is None or reservation.site != reply.site:
        return False
    why = f"site refused the reservation ({reply.reason.value if reply.reason else 'refused'})"
    if not _lapse(session, reservation, now, why):
        return False
    # Central's picture of the site was wrong: ask for its state before placing again.
    queue_command(session, reply.site, ResendState(), now)
    return True


def _describe(placement: Placement, reservation: ReservationRecord | None) -> str:
    if placement.site is None:
        return f"home delivery ({placement.rule.value})"
    where = f"{placement.site}"
    if reservation is not None and reservation.slot:
        where += f" slot {reservation.slot}"
    size = f" {placement.compartment.value}" if placement.compartment else ""
    return f"{placement.rule.value}: {where}{size}, {placement.distance_km:.1f} km"


def reservation_of(store: CentralStore, label: str) -> ReservationRecord | None:
    with store.transaction() as session:
        return session.held_reservation(label)
