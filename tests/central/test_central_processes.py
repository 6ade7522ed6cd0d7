"""Each central process's row in the store, and `lockernet central status` showing who is
alive, who stopped in order and who went silent."""

from __future__ import annotations

import random
import re
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from central.capacity.reservations import Reservations
from central.errors import CentralError
from central.operator.processes import (
    ALIVE_MIN_S,
    ProcessState,
    format_processes,
    process_lines,
)
from central.parcels.steps import announce
from central.parcels.tasks import TaskKind
from central.service.config import (
    CentralConfig,
    IngestConfig,
    PickupConfig,
    StoreConfig,
)
from central.service.service import CentralService
from central.sites import registry
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import CentralStore, ProcessRecord, SqliteStore
from central.store.open import open_store
from protocols.cli import main
from protocols.clock import ManualClock, SystemClock
from protocols.messages import CentralStatus, SizeClass, SlotState, encode
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    announcement,
    config_toml,
    label,
    small_network,
    snapshot,
)
from tests.eventually import eventually

NOW = 1_800_000_000.0
T = TypeVar("T")


def row(process: str, heard_ago: float, stopped: bool = False) -> ProcessRecord:
    return ProcessRecord(
        process=process,
        client_id=process.split("/", maxsplit=1)[0],
        host="central-host",
        pid=4242,
        started_at=NOW - 3600,
        heard_at=NOW - heard_ago,
        stopped_at=NOW - heard_ago if stopped else None,
        brokers=("main", "east") if not stopped else (),
        received=120,
        applied=118,
    )


def test_a_process_is_alive_stopped_or_gone_by_its_row(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    with store.transaction() as session:
        session.save_process(row("central-a/1", heard_ago=2))
        session.save_process(row("central-b/1", heard_ago=ALIVE_MIN_S + 1))  # killed -9
        session.save_process(row("central-c/1", heard_ago=500, stopped=True))
        session.save_process(row("central-b/2", heard_ago=1))  # b restarted: a row of its own
        # Written again: one row per process, the latest write wins.
        session.save_process(row("central-a/1", heard_ago=0.5))
    with store.transaction() as session:
        lines = process_lines(session, NOW, tick_interval_s=1.0)
    store.close()
    states = {line.process: line.state for line in lines}
    assert states == {
        "central-a/1": ProcessState.ALIVE,
        "central-b/1": ProcessState.GONE,
        "central-b/2": ProcessState.ALIVE,
        "central-c/1": ProcessState.STOPPED,
    }
    assert [line.process for line in lines][:2] == ["central-a/1", "central-b/2"]  # newest first
    a = next(line for line in lines if line.process == "central-a/1")
    assert a.brokers == ("main", "east") and (a.received, a.applied) == (120, 118)
    assert a.silent_s == pytest.approx(0.5)
    # A slow tick interval stretches the limit: three ticks of 10 s.
    with SqliteStore(tmp_path / "central.sqlite").transaction() as session:
        slow = process_lines(session, NOW, tick_interval_s=10.0)
    assert {line.process: line.state for line in slow}["central-b/1"] is ProcessState.ALIVE
    text = format_processes(lines, CentralStatus(online=True, boot_id="b00f", at=NOW))
    assert "2 of 4 process(es) alive" in text
    assert "retained central status: online (boot b00f" in text
    assert "main, east" in text
    assert "no central process" in format_processes([], None, "not asked")


@pytest.mark.broker
def test_a_running_process_writes_its_row_and_status_shows_it(
    tmp_path: Path,
    config: CentralConfig,
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = SystemClock()
    (tmp_path / "central-key.pem").write_bytes(b"")  # `central status` never signs
    config_path = tmp_path / "central.toml"
    config_path.write_text(config_toml(config))
    central = start_central(clock=clock)
    site = make_site("L0001")
    log = SiteEvents("L0001")
    site.send(log.deposit(label(1), "A"), log.deposit(label(2), "B"))

    def row_of() -> ProcessRecord | None:
        with SqliteStore(config.store.path).transaction() as session:
            rows = [p for p in session.list_processes() if p.process.endswith(central.boot_id)]
        return rows[0] if rows else None

    # Written at start, then by every tick with the ingest's totals and its broker.
    central.tick()
    eventually(lambda: central.ingest.totals["received"] == 2, what="both events committed")
    central.tick()
    written = row_of()
    assert written is not None
    assert written.client_id == config.broker_list[0].client_id
    assert written.brokers == ("main",) and written.stopped_at is None
    assert (written.received, written.applied) == (2, 2)
    # Central retains its status on the broker when it connects (and its will says offline).
    assert main(["central", "status", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert central.boot_id in out and "alive" in out
    assert "1 of 1 process(es) alive" in out
    assert f"retained central status: online (boot {central.boot_id}" in out

    central.stop()
    stopped = row_of()
    assert stopped is not None and stopped.stopped_at is not None and stopped.brokers == ()
    assert main(["central", "status", "--config", str(config_path), "--broker-wait", "0"]) == 0
    out = capsys.readouterr().out
    assert "stopped" in out and "0 of 1 process(es) alive" in out


def test_a_process_silent_past_three_ticks_is_gone(tmp_path: Path) -> None:
    """The limit is the longer of three ticks and ALIVE_MIN_S, judged on central's clock."""
    clock = ManualClock(start=NOW)
    store = SqliteStore(tmp_path / "central.sqlite")
    with store.transaction() as session:
        session.save_process(row("central-a/1", heard_ago=0))
    for ahead, state in ((ALIVE_MIN_S, ProcessState.ALIVE), (0.1, ProcessState.GONE)):
        clock.advance(ahead)
        with store.transaction() as session:
            (line,) = process_lines(session, clock.now(), tick_interval_s=1.0)
        assert line.state is state, (clock.now() - NOW, line)
    store.close()


# ------------------------------------------------- the same work done at once by processes

RACERS = 3
WAVE = 30
HOLD_S = 600.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    """One store that several racers open, each with its own connections, as processes do."""
    if request.param == "sqlite":
        return StoreConfig(path=tmp_path / "central.sqlite")
    return StoreConfig(url=request.getfixturevalue("pg_url"))


def race(config: StoreConfig, work: Callable[[CentralStore], T]) -> list[T]:
    """`work` run by RACERS threads at once, each on a store of its own."""
    stores = [open_store(config) for _ in range(RACERS)]
    start = threading.Barrier(RACERS)

    def one(store: CentralStore) -> T:
        start.wait()
        return work(store)

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            return list(pool.map(one, stores))
    finally:
        for store in stores:
            store.close()


def test_a_wave_placed_by_several_processes_at_once_places_each_parcel_once(
    shared_store: StoreConfig,
) -> None:
    store = open_store(shared_store)
    with store.transaction() as session:
        registry.load_network(session, small_network())
        free = [(s, SizeClass.M, SlotState.FREE, None) for s in "ABCD"]
        registry.apply_snapshot(session, snapshot("L0001", free), NOW)
        for n in range(1, WAVE + 1):
            announce(session, announcement(n, size="M"), NOW)
    labels = [label(n) for n in range(1, WAVE + 1)]

    waves = race(
        shared_store, lambda s: Reservations(s, small_network(), HOLD_S).place(labels, NOW)
    )
    assert sum(w.placed for w in waves) == WAVE  # each parcel by one of them
    with store.transaction() as session:
        steps = Counter(str(s.step) for n in range(1, WAVE + 1) for s in session.steps(label(n)))
        held = session.held_reservations()
    assert steps["assign"] == WAVE
    assert Counter(r.label for r in held).most_common(1)[0][1] == 1
    slots = Counter((r.site, r.slot) for r in held if r.slot is not None)
    assert sorted(slots) == [("L0001", s) for s in "ABCD"] and set(slots.values()) == {1}
    # L0002's three M compartments (declared, never shown) are not over-booked either.
    assert Counter(r.site for r in held)["L0002"] <= 3

    # Their holds run out: every process's timer lapses them at once, each exactly once.
    lapsed = race(
        shared_store, lambda s: Reservations(s, small_network(), HOLD_S).lapse_due(NOW + HOLD_S)
    )
    assert sorted(x for one in lapsed for x in one) == sorted(r.label for r in held)
    with store.transaction() as session:
        assert session.held_reservations() == []
        for r in held:
            kinds = [str(s.step) for s in session.steps(r.label)]
            assert kinds.count("reservation_lapsed") == 1, (r.label, kinds)
    store.close()


def test_a_gap_checked_by_several_processes_at_once_is_asked_for_once(
    shared_store: StoreConfig, topics: Topics
) -> None:
    store = open_store(shared_store)
    log = SiteEvents("L0001")
    events = [log.deposit(label(n), "A") for n in range(1, 5)]
    ingest = Ingest(store, topics, EventEffects(PickupConfig()), IngestConfig(gap_timeout_s=30))
    with store.transaction() as session:
        for n in range(1, 5):
            announce(session, announcement(n), NOW)
    # Events 2..4 came; 1 never did.
    ingest.commit(
        [Delivery(topics.site("L0001", SiteChannel.EVENTS), encode(e)) for e in events[1:]], NOW
    )

    asked = race(
        shared_store,
        lambda s: Ingest(s, topics, EventEffects(PickupConfig()), ingest.config).check_gaps(
            NOW + 31
        ),
    )
    assert sorted(x for one in asked for x in one) == [("L0001", 1)]
    with store.transaction() as session:
        assert session.stream("L0001").resend_count == 1
        resends = [t for t in session.open_tasks(TaskKind.SEND_COMMAND) if "resend" in t.payload]
    assert len(resends) == 1
    store.close()


def test_one_sites_events_split_between_processes_are_applied_once_in_order(
    shared_store: StoreConfig, topics: Topics
) -> None:
    store = open_store(shared_store)
    log = SiteEvents("L0001")
    events = []
    for n in range(1, 61):
        events.append(log.deposit(label(n), "A"))
        events.append(log.pickup(label(n), "A"))
    with store.transaction() as session:
        for n in range(1, 61):
            announce(session, announcement(n), NOW)
    rng = random.Random(3)
    # Each racer gets every third event (the shared subscription's split), some twice.
    shares = [events[i::RACERS] for i in range(RACERS)]
    for share in shares:
        share.extend(rng.sample(events, 10))
    topic = topics.site("L0001", SiteChannel.EVENTS)
    turn = iter(range(RACERS))
    lock = threading.Lock()

    def commit(s: CentralStore) -> int:
        with lock:
            mine = shares[next(turn)]
        ingest = Ingest(s, topics, EventEffects(PickupConfig()), IngestConfig())
        for start in range(0, len(mine), 7):
            ingest.commit([Delivery(topic, encode(e)) for e in mine[start : start + 7]], NOW)
        return ingest.totals["applied"]

    applied = race(shared_store, commit)
    assert sum(applied) == len(events)  # each applied by exactly one of them
    with store.transaction() as session:
        stream = session.stream("L0001")
        assert (stream.applied_seq, stream.deposits, stream.pickups) == (120, 60, 60)
        for n in (1, 30, 60):
            kinds = [str(s.step) for s in session.steps(label(n))]
            assert kinds == ["announce", "deposit", "pick_up"], kinds
    store.close()


def test_a_second_process_under_the_same_client_id_on_this_host_is_refused(
    config: CentralConfig,
    start_central: Callable[..., CentralService],
) -> None:
    """Two processes with one client id would take the broker session from each other every
    few seconds; the second is refused at start, naming the first, and writes nothing. A row
    whose process is dead (killed -9, restarted at once by systemd) does not block."""
    clock = SystemClock()
    client_id = config.broker_list[0].client_id
    store = SqliteStore(config.store.path)
    other = subprocess.Popen(["sleep", "60"])  # a live pid standing in for the first process
    try:
        first = ProcessRecord(
            process=f"{client_id}/first",
            client_id=client_id,
            host=socket.gethostname(),
            pid=other.pid,
            started_at=clock.now() - 60,
            heard_at=clock.now(),
        )
        with store.transaction() as session:
            session.save_process(first)
        with pytest.raises(CentralError, match=rf"\(pid {other.pid}\).*'{re.escape(client_id)}'"):
            start_central(clock=clock)
        with store.transaction() as session:
            assert [p.process for p in session.list_processes()] == [first.process]
    finally:
        other.kill()
        other.wait()
    # The same row, its process gone: the restart goes ahead.
    central = start_central(clock=clock)
    with store.transaction() as session:
        assert {p.process for p in session.list_processes()} == {
            first.process,
            f"{client_id}/{central.boot_id}",
        }
    store.close()
