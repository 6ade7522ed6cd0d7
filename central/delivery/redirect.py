"""After a failed attempt at the door: the parcel goes to the nearest locker or collection
point with room, or back to its partner.

Run by central's task runner (TaskKind.REDIRECT, queued with the failed attempt and due when
the consumer's window to choose a site ends, central/delivery/choice.py), where the network
and placement live. Placement is central/capacity's own (Placer over a StoreCapacity,
the reservation told to the site by ReserveSlot), asked as for a consumer who named no site:
the nearest locker with a compartment that fits, else the nearest collection point with room.
The parcel is then REDIRECTED at that site with its courier: the courier's next round there
deposits it, and the deposit issues the consumer's new pickup code as every deposit does
(central/parcels/pickup.py). A refused parcel, or one no site near the address has room for,
is RETURNED to its partner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from central.capacity.placement import DeliveryMode, Placement, PlacementPolicy, Placer
from central.capacity.reservations import SiteBusy, StoreCapacity, tell_site
from central.delivery.door import FailReason
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.steps import CENTRAL, take_step
from central.service.config import CentralConfig
from central.sites.network import Network
from central.store import CentralStore, ParcelRecord, StoreSession, StoreView, TaskRecord
from central.store.records import TaskKind
from protocols.messages import SizeClass

log = logging.getLogger(__name__)

# Tries of one redirect whose site another transaction held (each waits for it first).
BUSY_RETRIES = 5


@dataclass
class Redirects:
    """The REDIRECT task handler, over one network's sites."""

    store: CentralStore
    network: Network
    hold_s: float
    policy: PlacementPolicy = field(default_factory=PlacementPolicy)

    def __post_init__(self) -> None:
        self.placer = Placer(self.network, self.policy)

    def run_tasks(self, tasks: list[TaskRecord], now: float) -> None:
        """Redirect or return each task's parcel (a parcel no longer ATTEMPT_FAILED is left
        as it is: the consumer chose its site, a retried task, or an operator's step first)."""
        for task in tasks:
            assert task.id is not None and task.label is not None
            reason = json.loads(task.payload or "{}").get("reason")
            prelock: set[str] = set()
            for _ in range(BUSY_RETRIES):
                try:
                    with self.store.transaction() as session:
                        capacity = StoreCapacity(session, now, self.hold_s)
                        capacity.prelock(prelock)
                        self._redirect(session, capacity, task.label, reason, now)
                        session.finish_task(task.id, now)
                    break
                except SiteBusy as busy:
                    prelock |= {busy.site}

    def _redirect(
        self,
        session: StoreSession,
        capacity: StoreCapacity,
        label: str,
        reason: str | None,
        now: float,
    ) -> None:
        record = session.claim_parcel(label, [ParcelState.ATTEMPT_FAILED.value])
        if record is None:
            return
        if reason == FailReason.REFUSED.value:
            _return(session, record, "refused at the door", now)
            return
        placement = self.placer.place(_Redirected.of(record), capacity)
        if placement.mode is DeliveryMode.HOME or placement.site is None:
            _return(session, record, "no locker or collection point near with room", now)
            return
        redirect_to(session, capacity, record, placement, now, source=CENTRAL)


def redirect_to(
    session: StoreSession,
    capacity: StoreCapacity,
    record: ParcelRecord,
    placement: Placement,
    now: float,
    *,
    source: str,
) -> ParcelRecord:
    """Step a failed parcel (claimed, ATTEMPT_FAILED) to REDIRECTED at `placement`'s site,
    still with its courier, and tell the site of the reservation `capacity` made for it
    (in the caller's transaction). Central's nearest site and the consumer's choice
    (central/delivery/choice.py) both end here; `source` says whose it was."""
    assert placement.site is not None, "a redirect goes to a site"
    reservation = capacity.made.get(record.label)
    where = placement.site + (
        f" slot {reservation.slot}" if reservation and reservation.slot else ""
    )
    updated = take_step(
        session,
        record,
        ParcelStep.REDIRECT,
        at=now,
        source=source,
        now=now,
        detail=f"redirected after a failed attempt to {where} "
        f"({placement.rule.value}, {placement.distance_km:.1f} km)",
        site=placement.site,
        slot=reservation.slot if reservation else None,
        delivery_mode=placement.mode.value,
    )
    if reservation is not None:
        size = placement.compartment or SizeClass(record.size or SizeClass.M.value)
        tell_site(session, reservation, size, now)
    return updated


TaskHandler = Callable[[list[TaskRecord], float], None]


def was_redirected(view: StoreView, label: str) -> bool:
    """Whether the parcel came to its site redirected after a failed home delivery: its
    consumer's code message is then the redirect's (where it is now, and why)."""
    return any(step.step == ParcelStep.REDIRECT for step in view.steps(label))


def redirect_handlers(
    store: CentralStore, network: Network | None, config: CentralConfig
) -> dict[str, TaskHandler]:
    """The REDIRECT task's handler for central's task runner, where central has a network
    to place on (none without one: the tasks wait for a central that has it)."""
    if network is None:
        return {}
    policy = PlacementPolicy(max_locker_distance_km=config.reservations.max_locker_distance_km)
    redirects = Redirects(store, network, config.reservations.hold_s, policy)
    return {TaskKind.REDIRECT.value: redirects.run_tasks}


@dataclass(frozen=True)
class _Redirected:
    """A parcel as placement sees it for a redirect: as for a consumer who named no site
    (the nearest locker with room, else the nearest collection point)."""

    label: str
    size: SizeClass
    dest_lat: float
    dest_lon: float
    preferred_mode: str | None = None
    preferred_site: str | None = None

    @classmethod
    def of(cls, record: ParcelRecord) -> _Redirected:
        size = SizeClass(record.size or SizeClass.M.value)
        return cls(record.label, size, record.lat or 0.0, record.lon or 0.0)


def _return(session: StoreSession, record: ParcelRecord, why: str, now: float) -> None:
    take_step(
        session,
        record,
        ParcelStep.RETURN,
        at=now,
        source=CENTRAL,
        now=now,
        detail=f"returned to the partner: {why}",
    )
    log.info("parcel %s returned to its partner: %s", record.label, why)
