"""Found in review of the store's latest changes: each test failed before its fix.

- A site record saved inside a savepoint that then rolled back was still served by the
  transaction's site cache (central/store/queries/sites.py): a message set aside left its
  change in the cache, and the next message of the batch about the same site read it (and
  wrote it, or failed on it too).
- Placement waited for a site's lock while it held the row of the parcel it had claimed:
  ingest holding that site and wanting that parcel's row (its deposit) closed a cycle, and
  so did another process's placement of the same waiting parcels. It now waits for sites
  only at the start of a transaction, before it claims anything.
- Loading the network file (every central start, every `parcels import`) read each site's
  record without its lock and wrote it whole: on PostgreSQL what ingest wrote to a site
  meanwhile (a counter's shelf_used, online) was lost.
- The timers judged brokers and silent sites in one transaction: the sites of an unreachable
  broker locked first, then each silent site, out of the sorted order ingest locks in.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.capacity.reservations import Reservations
from central.parcels.steps import announce
from central.service.config import LivenessConfig
from central.service.timers import judge_liveness
from central.sites import registry
from central.sites.ingest import Delivery
from central.sites.liveness import BrokerHearing
from central.store import LivenessRecord
from central.store.base import CentralStore
from central.store.postgres import PostgresStore
from protocols.messages import SiteStatus, encode
from protocols.topics import SiteChannel
from tests.central.central_rig import announcement, label, small_network, stock_store
from tests.central.store_contract.stores import open_location
from tests.central.test_ingest import NOW, TOPICS, make_ingest
from tests.central.test_placement_locks import HOLD_S, _waiting_on_a_lock
from tests.eventually import eventually


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralStore]:
    if request.param == "sqlite":
        location = str(tmp_path / "central.sqlite")
    else:
        location = request.getfixturevalue("pg_url")
    store = open_location(location)
    yield store
    store.close()


def test_a_site_saved_in_a_savepoint_that_rolled_back_is_read_as_stored(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        registry.load_network(session, small_network())
    with any_store.transaction() as session:
        before = session.get_site("C0001")
        assert before is not None
        with pytest.raises(RuntimeError), session.savepoint():
            session.save_site(dataclasses.replace(before, shelf_used=7, name="undone"))
            raise RuntimeError("the unit fails after its write")
        assert session.get_site("C0001") == before
    with any_store.transaction() as session:
        assert session.get_site("C0001") == before


@pytest.mark.postgres
def test_a_status_set_aside_does_not_spoil_the_next_one_of_its_site(pg_url: str) -> None:
    # A text PostgreSQL cannot hold (a NUL) in an online status: set aside. The last will
    # after it in the same batch names no agent version, so the site's record it writes
    # kept the one read before; read from the cache, that was the set-aside one's, and the
    # last will was set aside too: the site stayed online in central.
    store = PostgresStore(pg_url)
    stock_store(store, NOW, 4)
    ingest = make_ingest(store)
    topic = TOPICS.site("L0001", SiteChannel.STATUS)
    online = SiteStatus(site="L0001", online=True, boot_id="b1", at=NOW - 10, agent_version="1\x00")
    will = SiteStatus(site="L0001", online=False, boot_id="b1", at=NOW - 20)
    ingest.commit([Delivery(topic, encode(online)), Delivery(topic, encode(will))], NOW)
    with store.transaction() as session:
        site = session.get_site("L0001")
    assert site is not None
    assert site.online is False
    assert site.agent_version is None
    store.close()


@pytest.mark.postgres
def test_placement_never_waits_for_a_site_while_it_holds_a_parcel(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    probe = PostgresStore(pg_url)
    network = small_network()
    with store.transaction() as session:
        registry.load_network(session, network)
        announce(session, announcement(1), NOW)
    holds_locker = threading.Event()
    errors: list[BaseException] = []

    def ingest_like() -> None:
        # A batch about L0001 (the parcel's nearest locker) with a deposit of the parcel
        # in it: the site's lock first, then, once placement waits, the parcel's row.
        try:
            with store.transaction() as session:
                session.lock_site("L0001")
                holds_locker.set()
                eventually(lambda: _waiting_on_a_lock(probe), timeout=30, what="placement to wait")
                session.get_parcel(label(1))
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    holder = threading.Thread(target=ingest_like)
    holder.start()
    assert holds_locker.wait(10)
    try:
        result = Reservations(store, network, HOLD_S).place([label(1)], NOW)
    finally:
        holder.join(60)
    assert errors == []
    assert result.placed == 1
    with store.transaction() as session:
        held = session.held_reservation(label(1))
    assert held is not None and held.site == "L0001"
    store.close()
    probe.close()


@pytest.mark.postgres
@pytest.mark.parametrize("renamed", [False, True], ids=["same-plan", "renamed"])
def test_loading_the_network_keeps_what_ingest_wrote_meanwhile(pg_url: str, renamed: bool) -> None:
    store = PostgresStore(pg_url)
    probe = PostgresStore(pg_url)
    network = small_network()
    with store.transaction() as session:
        registry.load_network(session, network)
    if renamed:
        sites = [
            s.model_copy(update={"name": "Tampines Mart Counter"}) if s.id == "C0001" else s
            for s in network.sites
        ]
        network = network.model_copy(update={"sites": sites})
    loaded = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            with store.transaction() as session:
                registry.load_network(session, network)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        loaded.set()

    loader = threading.Thread(target=load)
    with store.transaction() as session:
        # Ingest applying a deposit at the counter: its lock, then its record.
        session.lock_site("C0001")
        counter = session.get_site("C0001")
        assert counter is not None
        session.save_site(dataclasses.replace(counter, shelf_used=5, online=True))
        loader.start()
        eventually(
            lambda: loaded.is_set() or _waiting_on_a_lock(probe),
            timeout=30,
            what="the network load to end or wait",
        )
    loader.join(30)
    assert errors == []
    with store.transaction() as session:
        counter = session.get_site("C0001")
    assert counter is not None
    assert (counter.shelf_used, counter.online) == (5, True)
    assert counter.name == ("Tampines Mart Counter" if renamed else "Tampines Mart")
    store.close()
    probe.close()


@pytest.mark.postgres
def test_judging_brokers_and_silent_sites_never_waits_in_a_cycle_with_ingest(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url)
    probe = PostgresStore(pg_url)
    long_ago = NOW - 1000
    with store.transaction() as session:
        registry.load_network(session, small_network())
        # L0001 on the broker this process hears, silent; L0002 on one it cannot reach.
        for site, broker in (("L0001", "main"), ("L0002", "b")):
            record = session.get_site(site)
            assert record is not None
            session.save_site(dataclasses.replace(record, broker=broker, online=True))
            session.save_liveness(LivenessRecord(site, heard_at=long_ago))
    hearing = [
        BrokerHearing("main", "10.0.0.1:1883", "central-1", long_ago, None),
        BrokerHearing("b", "10.0.0.2:1883", "central-1", None, long_ago),
    ]
    errors: list[BaseException] = []
    done = threading.Event()

    def judge() -> None:
        try:
            judge_liveness(store, NOW, hearing, LivenessConfig(stale_after_s=60.0))
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        done.set()

    judging = threading.Thread(target=judge)
    try:
        with store.transaction() as session:
            # A batch about L0001 and L0002, locked in sorted order as ingest does.
            session.lock_site("L0001")
            judging.start()
            eventually(
                lambda: done.is_set() or _waiting_on_a_lock(probe),
                timeout=30,
                what="the liveness check to wait for L0001",
            )
            session.lock_site("L0002")
    except BaseException as exc:  # noqa: BLE001 - the deadlock may fail this side
        errors.append(exc)
    judging.join(30)
    assert errors == []
    with store.transaction() as session:
        one, two = session.get_site("L0001"), session.get_site("L0002")
    assert one is not None and one.online is False  # silent: called offline
    assert two is not None and two.online is None  # its broker unreachable: unknown
    store.close()
    probe.close()
