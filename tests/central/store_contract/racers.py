"""What each racing thread or process does in the concurrency contract tests.

Module-level functions, so a process started with the "spawn" method (a fresh interpreter,
as a second `lockernet central run` is) can import them; each opens the store itself from
its location string and retries a transaction the store says to retry (`store.errors`: a
deadlock detected, a serialization failure, a busy SQLite), as central's own loops do.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from central.capacity.reservations import Reservations
from central.errors import StoreConflict
from central.parcels.steps import announce
from central.service.config import IngestConfig, PickupConfig
from central.sites import registry
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store.base import CentralStore
from central.store.records import ReservationRecord
from protocols.messages import Event, SizeClass, SlotState, encode
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import announcement, label, small_network, snapshot, stock_store
from tests.central.store_contract.stores import open_location

T = TypeVar("T")
NOW = 1_800_000_100.0
HOLD_S = 3600.0
TOPICS = Topics("lockernet-test/contract/v1")
RETRIES = 50
# L0001 as its snapshot shows it: two S, two M, one L compartment, all free.
L0001_SLOTS = [("A", SizeClass.S), ("B", SizeClass.S), ("C", SizeClass.M), ("D", SizeClass.M)]
L0001_SLOTS.append(("E", SizeClass.L))
COUNTER = "C0001"  # its shelf holds 3 parcels (small_network)
COUNTER_ROOM = 3


def retried(store: CentralStore, attempt: Callable[[], T]) -> T:
    """`attempt()` again while the store raises what it says to retry the transaction on;
    a StoreConflict (a StoreError too) is the data's answer, passed on."""
    for _ in range(RETRIES - 1):
        try:
            return attempt()
        except StoreConflict:
            raise
        except store.errors:
            time.sleep(random.uniform(0.001, 0.02))  # jitter: racers retrying in step collide again
    return attempt()


def prepare_placement(location: str, parcels: int, with_snapshot: bool = True) -> None:
    """The small network, L0001's snapshot (all free) unless not `with_snapshot` (then its
    capacity is the network file's compartments), and `parcels` S parcels preferring it."""
    store = open_location(location)
    with store.transaction() as session:
        registry.load_network(session, small_network())
        if with_snapshot:
            registry.apply_snapshot(
                session,
                snapshot("L0001", [(s, size, SlotState.FREE, None) for s, size in L0001_SLOTS]),
                NOW,
            )
        for n in range(1, parcels + 1):
            announce(session, announcement(n, preferred_site="L0001"), NOW)
    store.close()


def place(location: str, labels: Sequence[str]) -> None:
    """One central process's placement: its parcels one wave each, through Reservations."""
    store = open_location(location)
    reservations = Reservations(store, small_network(), HOLD_S)
    for one in labels:
        retried(store, lambda one=one: reservations.place([one], NOW))  # type: ignore[misc]
    store.close()


def reserve_by_hand(location: str, first: int, attempts: int, results: object) -> None:
    """Placement's own steps, raw: lock the site, read what is free, hold it. Half the
    attempts go for L0001's S slots, half for the counter's shelf (no slot to collide on:
    only the site lock keeps its room). Puts (conflicts, held) on `results` (a queue)."""
    store = open_location(location)
    conflicts = held = 0
    for n in range(first, first + attempts):

        def attempt(n: int = n) -> bool:
            with store.transaction() as session:
                site = "L0001" if n % 2 else COUNTER
                session.lock_site(site)
                if site == COUNTER:
                    free: list[str | None] = (
                        [None] if session.held_count(COUNTER) < COUNTER_ROOM else []
                    )
                else:
                    free = list(session.free_slots(site, SizeClass.S))
                if not free:
                    return False
                # Hold the decision open a moment: without the site's lock another process
                # would read the same free capacity in this window.
                time.sleep(0.002)
                record = ReservationRecord(
                    label(n), site, "S", created_at=NOW, until=NOW + HOLD_S, slot=free[0]
                )
                session.add_reservation(record)
                return True

        try:
            held += retried(store, attempt)
        except StoreConflict:
            conflicts += 1
    store.close()
    results.put((conflicts, held))  # type: ignore[attr-defined]


def claim_all(location: str, owner: str, results: object) -> None:
    """Claim due tasks in small bites until none is left; puts the ids claimed on `results`."""
    store = open_location(location)
    claimed: list[int] = []
    while True:

        def bite() -> list[int]:
            with store.transaction() as session:
                tasks = session.claim_tasks(NOW, owner, NOW + 3600, limit=3)
                return [t.id or 0 for t in tasks]

        got = retried(store, bite)
        if not got:
            break
        claimed += got
    store.close()
    results.put(claimed)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------ a site's day


def prepare_day(location: str) -> None:
    """Two lockers with their slots free, 30 parcels announced (tests/central/test_ingest)."""
    store = open_location(location)
    stock_store(store, NOW, 30)
    store.close()


def ingest_of(store: CentralStore) -> Ingest:
    return Ingest(store, TOPICS, EventEffects(PickupConfig()), IngestConfig())


def delivery(event: Event) -> Delivery:
    return Delivery(TOPICS.site(event.site, SiteChannel.EVENTS), encode(event))


def replay(location: str, events: Sequence[Event], seed: int) -> None:
    """Commit `events` shuffled, in batches of random size, as one central process would."""
    store = open_location(location)
    ingest = ingest_of(store)
    rng = random.Random(seed)
    shuffled = list(events)
    rng.shuffle(shuffled)
    i = 0
    while i < len(shuffled):
        size = rng.randint(1, 7)
        batch = [delivery(e) for e in shuffled[i : i + size]]
        retried(store, lambda batch=batch: ingest.commit(batch, NOW))  # type: ignore[misc]
        i += size
    store.close()
