"""Hostile input and faults against central on PostgreSQL: what SQLite takes in its stride
(64-bit integers in every column) must not jam ingest on PostgreSQL either.

A batch that fails to commit is retried for ever by the ingest worker (its messages stay
unacknowledged, so nothing is lost to a transient fault). That is right only for faults that
pass: a message whose data the database refuses must be rejected or set aside, never retried,
or one site's bad message stops every site's ingest on that process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from central.errors import StoreError
from central.service.config import StoreConfig
from central.sites.ingest import Delivery
from central.store.open import open_reader, open_store, store_location
from central.store.postgres import PostgresStore
from central.store.postgres.reader import close_reader_pools
from central.store.read import StoreReader
from protocols.messages import SizeClass, SlotState, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    label,
    snapshot,
    stock_store,
)
from tests.central.test_ingest import NOW, TOPICS, delivery, make_ingest
from tests.central.test_two_centrals import (
    CENTRALS,
    PARCELS_PER_SITE,
    SITES,
    WINDOW_S,
    CentralProcess,
    announce_wave,
    checks,
    final_state,
    prepare,
    reference,
    site_day,
    wave_config,
)
from tests.eventually import eventually
from tests.postgres import PostgresError, PrivatePostgres

pytestmark = pytest.mark.postgres

# One past the largest value of PostgreSQL's BIGINT (and SQLite's INTEGER).
BEYOND_BIGINT = 2**63
# One past the largest value of PostgreSQL's INTEGER (sites.shelf_capacity).
BEYOND_INTEGER = 2**31
# A server outage that ends between psycopg_pool's own reconnection attempts, which come 1, 3,
# 7, 15, 31 s (each +-10%) after the first failure: left to it, the store's pool (failing
# from the kill) and the reader's (from 2 s later) next try some 11 s after the server is back.
OUTAGE_S = 20.0
# After the server is back, central's transactions work again within this.
RECOVERY_S = 5.0
# How long a transaction waits for a connection in these tests (the product waits longer).
POOL_WAIT_S = 2.0


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url)
    stock_store(store, NOW, 4)
    yield store
    store.close()


def applied_seq(store: PostgresStore, site: str) -> int:
    with store.transaction() as session:
        return session.stream(site).applied_seq


def test_an_event_seq_beyond_64_bits_is_rejected_and_the_batch_commits(
    store: PostgresStore,
) -> None:
    # Without a bound on seq the INSERT fails (bigint out of range) on every retry of the
    # batch: the process's ingest stops for every site.
    ingest = make_ingest(store)
    good = SiteEvents("L0002").deposit(label(2), "F")
    bad = SiteEvents("L0001").deposit(label(1), "A")
    raw = encode(bad).replace(b'"seq":1', b'"seq":%d' % BEYOND_BIGINT)
    assert raw != encode(bad)
    result = ingest.commit(
        [delivery(good), Delivery(TOPICS.site("L0001", SiteChannel.EVENTS), raw)],
        NOW,
    )
    assert result.rejected == 1
    assert result.applied == 1
    assert applied_seq(store, "L0002") == 1
    assert applied_seq(store, "L0001") == 0


@pytest.mark.parametrize(
    "unstorable",
    [
        pytest.param({"shelf_capacity": BEYOND_INTEGER}, id="integer-overflow"),
        pytest.param({"versions": {"agent": "1.0\x00"}}, id="nul-in-text"),
    ],
)
def test_a_snapshot_the_columns_cannot_hold_is_set_aside_and_the_rest_applied(
    store: PostgresStore, unstorable: dict[str, Any]
) -> None:
    # Both fit the wire (shelf_capacity ge=0 with no upper bound; a text may hold U+0000)
    # but not PostgreSQL (INTEGER; a text with NUL): a DataError, which comes back the same
    # on every retry; it must be set aside like any other message central cannot apply, not
    # retried as a passing fault.
    ingest = make_ingest(store)
    state = snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "ABCDE"])
    state = state.model_copy(update=unstorable)
    good = SiteEvents("L0002").deposit(label(2), "F")
    result = ingest.commit(
        [Delivery(TOPICS.site("L0001", SiteChannel.STATE), encode(state)), delivery(good)], NOW
    )
    assert result.applied == 1
    assert applied_seq(store, "L0002") == 1


def test_only_faults_that_pass_are_retried(store: PostgresStore) -> None:
    # What a caller retries the whole transaction on: a lost connection, a deadlock, a
    # serialization failure, no connection in time; never data the server refuses.
    assert issubclass(psycopg.errors.DeadlockDetected, store.errors)
    assert issubclass(psycopg.errors.AdminShutdown, store.errors)
    assert not issubclass(psycopg.errors.NumericValueOutOfRange, store.errors)
    assert not issubclass(psycopg.errors.UndefinedColumn, store.errors)


def _answers(store: PostgresStore) -> bool:
    """One transaction: True if it committed, False on an error the caller would retry."""
    try:
        with store.transaction() as session:
            session.lock_site("L0001")
        return True
    except store.errors:
        return False


def _reads(url: str) -> bool:
    """A reader opened and read: True if it read, False on an error a poller retries."""
    try:
        with open_reader(url) as reader:
            reader.parcel_states()
        return True
    except StoreReader.errors:
        return False


def _kill(server: PrivatePostgres) -> None:
    """kill -9 of the server's postmaster; its folder and port stay for a restart."""
    process = server._process
    assert process is not None
    process.kill()
    process.wait()


def _restart(server: PrivatePostgres) -> bool:
    """The same server again (same folder and port): False while the killed one's backends
    still hold its shared memory."""
    try:
        server._serve()
    except PostgresError:
        return False
    return True


@pytest.mark.timeout(120)
def test_after_a_long_outage_the_pool_connects_as_soon_as_the_server_is_back() -> None:
    # Durable: the test server's asynchronous commits would lose the schema to the kill -9.
    with PrivatePostgres(durable=True) as server:
        url = server.create_database()
        store = PostgresStore(url, timeout=POOL_WAIT_S)
        try:
            assert _answers(store)
            assert _reads(url)  # the reader pool of this url is made now, before the outage
            _kill(server)
            started = time.monotonic()
            assert not _answers(store)  # an error a caller retries, within the pool's wait
            assert time.monotonic() - started < POOL_WAIT_S + 1
            assert not _reads(url)  # a poller's reader during the outage: an error it retries
            # The outage's length is the fault under test, not a wait for a condition.
            time.sleep(max(0.0, started + OUTAGE_S - time.monotonic()))
            eventually(lambda: _restart(server), timeout=30, what="the server restarted")
            started = time.monotonic()
            eventually(lambda: _answers(store), timeout=RECOVERY_S, what="a transaction")
            eventually(
                lambda: _reads(url),
                timeout=RECOVERY_S - (time.monotonic() - started),
                what="a reader",
            )
        finally:
            store.close()
            close_reader_pools()


# A password libpq cannot parse (an unencoded space): it quotes it back in its error.
UNPARSABLE_PASSWORD = "Sec r3t%zz"


@pytest.mark.parametrize("opening", ["store", "reader"])
def test_a_url_libpq_cannot_parse_is_a_store_error_that_never_shows_the_password(
    pg_server: PrivatePostgres, opening: str
) -> None:
    url = f"postgresql://lockernet:{UNPARSABLE_PASSWORD}@{pg_server.host}:{pg_server.port}/x"
    with pytest.raises(StoreError) as raised:
        if opening == "store":
            open_store(StoreConfig(url=url))
        else:
            open_reader(url)
    message = str(raised.value)
    assert f"{pg_server.host}:{pg_server.port}" in message
    assert "Sec" not in message and "r3t" not in message


def test_a_role_that_may_not_create_central_s_tables_is_a_store_error_naming_the_store(
    pg_server: PrivatePostgres, pg_url: str
) -> None:
    # Since PostgreSQL 15 a role that does not own the database may not create tables in
    # its public schema: the migration's first CREATE TABLE is refused.
    role = f"r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(pg_url.rsplit("/", 1)[-1]), sql.Identifier(role)
            )
        )
    url = pg_url.replace("//postgres@", f"//{role}:pw@")
    try:
        with pytest.raises(StoreError) as raised:
            PostgresStore(url)
        message = str(raised.value)
        assert f"{role}:***@{pg_server.host}:{pg_server.port}" in message
        assert "permission denied" in message and "schema version" in message
    finally:
        pg_server.drop_database(pg_url)
        with psycopg.connect(pg_server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.broker
@pytest.mark.timeout(300)
def test_central_processes_ride_out_a_killed_database_server_and_apply_every_event_once(
    *,
    tmp_path: Path,
    broker: Any,
    topics: Topics,
    signer: TokenSigner,
    make_site: Callable[..., Site],
) -> None:
    # The scenario of test_two_centrals, but what dies in the middle of the burst and the
    # placement wave is the PostgreSQL server (kill -9, then started again on its folder and
    # port): every central process keeps running, retries, and they end where one process
    # given the same input ends.
    with PrivatePostgres(durable=True) as server:
        store_config = StoreConfig(url=server.create_database())
        config, config_path = wave_config(tmp_path, broker, topics, signer, store_config)
        store = open_store(store_config)
        prepare(store, time.time())
        store.close()
        days = {site: site_day(site, 1 + i * PARCELS_PER_SITE) for i, site in enumerate(SITES)}
        reference(tmp_path, config, signer, topics, days).close()
        expected = final_state(str(tmp_path / "reference.sqlite"))
        location = store_location(store_config)

        processes = [CentralProcess(config_path, c, tmp_path / f"{c}.log") for c in CENTRALS[:2]]
        try:
            for process in processes:
                process.start()
            sites = {site: make_site(site) for site in SITES}
            half = {site: len(events) // 2 for site, events in days.items()}
            for site, events in days.items():
                sites[site].send(*events[: half[site]])
            store = open_store(store_config)
            announce_wave(store, time.time())
            store.close()
            _kill(server)
            for site, events in days.items():
                sites[site].send(*events[half[site] :])
            eventually(lambda: _restart(server), timeout=30, what="the server restarted")

            def settled() -> bool:
                checks(location)
                return final_state(location) == expected

            try:
                eventually(settled, timeout=WINDOW_S + 90, what="the processes to settle")
            except AssertionError as exc:
                if not str(exc).startswith("waited"):
                    raise
                actual = final_state(location)
                for key in expected:
                    assert actual[key] == expected[key], key
                raise
            assert all(p.process is not None and p.process.poll() is None for p in processes)
            assert all(p.stop() == 0 for p in processes)
        finally:
            for process in processes:
                process.kill()
            close_reader_pools()
        logs = "".join(p.log() for p in processes)
        assert f"{server.host}" in logs and str(server.port) in logs  # the outage, by host:port


# How long a frozen holder keeps its site locks in the test below (the product allows more).
IDLE_HOLD_S = 2.0


def test_a_frozen_process_holding_a_site_lock_loses_it_and_the_others_go_on(
    pg_url: str,
) -> None:
    # A process stopped in the middle of a transaction (SIGSTOP, a VM paused, a long GC)
    # keeps its TCP connection, so the server keeps its session and its advisory locks: every
    # other process's ingest of those sites would wait for as long as it stays frozen.
    frozen = PostgresStore(pg_url, idle_in_transaction_s=IDLE_HOLD_S)
    other = PostgresStore(pg_url)
    holding = frozen.transaction()
    session = holding.__enter__()
    session.lock_site("L0001")
    try:
        started = time.monotonic()
        with other.transaction() as mine:
            mine.lock_site("L0001")  # waits until the server ends the frozen session
        assert time.monotonic() - started < IDLE_HOLD_S + 3
        # The frozen process, woken, finds its transaction gone: an error it retries.
        with pytest.raises(frozen.errors) as woken:
            session.lock_site("L0002")
        # Its transaction ends as any failed one does (rolled back, the connection dropped),
        # the error going up to the caller that retries.
        assert not holding.__exit__(type(woken.value), woken.value, woken.tb)  # not swallowed
        with frozen.transaction() as again:  # and the retry gets a working connection
            again.lock_site("L0001")
    finally:
        other.close()
        frozen.close()
