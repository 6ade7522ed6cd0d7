"""Placement and ingest on PostgreSQL never wait for each other in a cycle.

Ingest locks the sites of a batch in sorted order; placement meets sites in order of
distance. Placement takes a site's lock only if it is free, committing what it placed and
going on in a new transaction that waits for the busy site first, before it claims a parcel
(central/capacity/reservations.py, StoreCapacity.lock).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from central.capacity.reservations import Reservations
from central.parcels.steps import announce
from central.sites import registry
from central.store import ReservationStatus
from central.store.postgres import PostgresStore
from tests.central.central_rig import announcement, label, small_network
from tests.eventually import eventually

pytestmark = pytest.mark.postgres

NOW = 1_800_000_000.0
HOLD_S = 600.0
# small_network's M-or-larger room: L0001 2 M + 1 L, L0002 3 M, then C0001's 3 shelf places.
PARCELS = 9


def _waiting_on_a_lock(store: PostgresStore) -> bool:
    with store.transaction() as session:
        raw = session._db  # the server's own view of who waits
        row = raw.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()
    return bool(row[0])


def _assigned(store: PostgresStore) -> int:
    with store.transaction() as session:
        return len(session.parcels_in_state(["assigned"]))


def test_placement_meeting_a_site_ingest_holds_never_deadlocks(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    probe = PostgresStore(pg_url)  # read from inside the holder's transaction's thread
    network = small_network()
    with store.transaction() as session:
        registry.load_network(session, network)
        for n in range(1, PARCELS + 1):
            announce(session, announcement(n, size="M"), NOW)

    holder_has_counter = threading.Event()
    errors: list[BaseException] = []

    def ingest_like() -> None:
        # A batch about C0001 and L0001, locked in the sorted order ingest uses: it holds
        # C0001 while placement fills the lockers, then wants L0001, which placement holds
        # while it waits for C0001 (before: a cycle, broken by the server's deadlock check).
        try:
            with store.transaction() as session:
                session.lock_site("C0001")
                holder_has_counter.set()
                eventually(
                    lambda: _assigned(probe) >= 6 or _waiting_on_a_lock(probe),
                    timeout=30,
                    what="placement to reach the counter",
                )
                session.lock_site("L0001")
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    holder = threading.Thread(target=ingest_like)
    holder.start()
    assert holder_has_counter.wait(10)
    try:
        result = Reservations(store, network, HOLD_S).place(
            [label(n) for n in range(1, PARCELS + 1)], NOW
        )
    finally:
        holder.join(60)
    assert errors == []
    assert result.placed == PARCELS
    assert (result.lockers, result.counters) == (6, 3)
    with store.transaction() as session:
        held = session.held_reservations()
    assert all(r.status is ReservationStatus.HELD for r in held)
    assert Counter(r.site for r in held) == {"L0001": 3, "L0002": 3, "C0001": 3}
    store.close()
    probe.close()


def test_try_lock_site_never_waits_for_a_holder(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.transaction() as session:
            session.lock_site("L0002")
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with store.transaction() as session:
            assert session.try_lock_site("L0001") is True
            assert session.try_lock_site("L0002") is False  # held: answered at once
            assert session.try_lock_site("L0001") is True  # one's own lock, taken again
    finally:
        release.set()
        thread.join(30)
    with store.transaction() as session:
        assert session.try_lock_site("L0002") is True
    store.close()
