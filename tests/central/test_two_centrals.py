"""Three `lockernet central run` processes on one shared subscription and one store (SQLite,
and PostgreSQL) reach the state one process reaches from the same input, though one of them
is killed (-9) in the middle of a burst of events and a placement wave.

The killed process is started again under the same client id, as systemd would restart it:
the broker kept its session, so the events it held unacknowledged come back to it at once.
(Without a restart they would come back only when the session expires and the site's
heartbeat shows the gap: minutes, and the sites played here send no heartbeat.)
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from central.capacity.reservations import Reservations
from central.parcels.pickup import FolderReminders, PickupFollowUps
from central.parcels.pickup_codes import FolderNotifier
from central.parcels.steps import announce
from central.parcels.tasks import TaskKind, TaskRunner
from central.service.config import CentralConfig, StoreConfig
from central.sites import registry
from central.sites.ingest import Delivery, Ingest
from central.sites.network import Network, NetworkSite, save_network
from central.sites.site_events import EventEffects
from central.store import CentralStore, TaskRecord
from central.store.open import open_reader, open_store, store_location
from protocols.messages import Event, SiteKind, SizeClass, SlotState, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    announcement,
    central_config,
    config_toml,
    east,
    label,
    small_network,
    snapshot,
)
from tests.eventually import eventually

pytestmark = pytest.mark.broker
SITES = ("L0001", "L0002", "C0001")
SLOTS = "ABCDEF"
PARCELS_PER_SITE = 40
BURST = len(SITES) * PARCELS_PER_SITE  # parcels 1..BURST are deposited (and most collected)
WAVE = 300  # parcels BURST+1..BURST+WAVE are placed by the processes' timers
WAVE_SLOTS = 60  # W0001 has told central its slots; W0002 has not (its plan's 300 count)
WINDOW_S = 20.0  # the pickup window: a parcel never collected is reminded, then expired
REMIND_BEFORE_S = 10.0
REPLACE_AFTER_S = 3600.0  # only the wave (announced long ago) is placed by the timers
HOLD_S = 15.0  # then the wave's reservations lapse (no courier comes), each parcel once
LOCKERNET = Path(sys.executable).with_name("lockernet")
CENTRALS = ("central-a", "central-b", "central-c")


def wave_network() -> Network:
    """The small network, and two lockers 20 km away where only the wave goes."""
    base = small_network()
    wave_sites = [
        NetworkSite(
            id=f"W000{i}",
            kind=SiteKind.LOCKER,
            name=f"Wave Locker {i}",
            lat=base.sites[0].lat,
            lon=east(20.0 + 0.3 * i),
            postal_code=f"52090{i}",
            compartments={SizeClass.M: WAVE_SLOTS if i == 1 else WAVE},
        )
        for i in (1, 2)
    ]
    return Network(sites=[*base.sites, *wave_sites], partners=base.partners, couriers=base.couriers)


def site_day(site: str, first: int) -> list[Event]:
    """Deposits into six slots in turn; each parcel collected two rounds later (the last six
    stay: they are reminded, then expire)."""
    log = SiteEvents(site)
    events: list[Event] = []
    in_slot: dict[str, int] = {}
    for i in range(PARCELS_PER_SITE):
        slot = SLOTS[i % len(SLOTS)]
        if slot in in_slot:
            events.append(log.pickup(label(in_slot.pop(slot)), slot))
        events.append(log.deposit(label(first + i), slot))
        in_slot[slot] = first + i
        if i % 7 == 3:
            events.append(log.door_left_open(slot))
            events.append(log.door_closed(slot))
    return events


def wave_labels() -> list[str]:
    return [label(n) for n in range(BURST + 1, BURST + WAVE + 1)]


def prepare(store: CentralStore, now: float) -> None:
    """The network, the sites' slots and the burst's parcels (announced just now: the timers
    leave them to their deposits)."""
    with store.transaction() as session:
        registry.load_network(session, wave_network())
        for site in SITES:
            registry.apply_snapshot(
                session,
                snapshot(site, [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS]),
                now,
            )
        free = [(f"M{i:02}", SizeClass.M, SlotState.FREE, None) for i in range(WAVE_SLOTS)]
        registry.apply_snapshot(session, snapshot("W0001", free), now)
        for n in range(1, BURST + 1):
            announce(session, announcement(n), now)


def announce_wave(store: CentralStore, now: float) -> None:
    """The wave's parcels, announced long enough ago for any process's timer to place."""
    with store.transaction() as session:
        for n in range(BURST + 1, BURST + WAVE + 1):
            parcel = announcement(n, size="M", dest_lon=east(20.0))
            announce(session, parcel, now - 2 * REPLACE_AFTER_S)


def reference(
    folder: Path,
    config: CentralConfig,
    signer: TokenSigner,
    topics: Topics,
    days: dict[str, list[Event]],
) -> CentralStore:
    """One ingester, every site's day once and in order, one placement of the wave, and the
    follow-up tasks run once their time has come (a SQLite store in `folder`)."""
    store = open_store(StoreConfig(path=folder / "reference.sqlite"))
    now = time.time()
    prepare(store, now)
    ingest = Ingest(store, topics, EventEffects(config.pickup), config.ingest)
    for events in days.values():
        ingest.commit(
            [Delivery(topics.site(e.site, SiteChannel.EVENTS), encode(e)) for e in events], now
        )
    announce_wave(store, now)
    Reservations(store, wave_network(), HOLD_S).place(wave_labels(), now)
    outbox = folder / "reference-outbox"
    followups = PickupFollowUps(store, signer, FolderNotifier(outbox), FolderReminders(outbox))

    def sent(tasks: list[TaskRecord], at: float) -> None:
        with store.transaction() as session:
            for task in tasks:
                assert task.id is not None
                session.finish_task(task.id, at)

    runner = TaskRunner(
        store,
        owner="reference",
        lease_s=60,
        handlers={
            TaskKind.ISSUE_CODE.value: followups.issue_codes,
            TaskKind.REMIND.value: followups.remind,
            TaskKind.EXPIRE.value: followups.expire,
            TaskKind.SEND_COMMAND.value: sent,
        },
    )
    while runner.run_due(now + WINDOW_S + 1):
        pass
    Reservations(store, wave_network(), HOLD_S).lapse_due(now + HOLD_S + 1)
    return store


def final_state(location: str) -> dict[str, Any]:
    """What must equal between the reference and the processes. Left out as timing: the
    pickup code's notify step, and a reminder for a parcel collected after all (an event
    the killed process held came back to its successor later than the reminder's time).
    Read through the read path: a snapshot that takes no lock a process could wait for."""
    with open_reader(location) as reader:
        session = reader.view
        parcels = {}
        for n in range(1, BURST + WAVE + 1):
            record = session.get_parcel(label(n))
            assert record is not None
            steps = [
                (s.step, s.after, s.source)
                for s in session.steps(label(n))
                if s.step != "notify" and not (s.step == "remind" and record.state == "collected")
            ]
            parcels[label(n)] = (
                record.state,
                record.site,
                record.slot,
                record.partner,
                record.courier,
                steps,
            )
        held = session.held_reservations()
        return {
            "parcels": parcels,
            "slots": {
                s: [(x.slot, x.state, x.parcel) for x in session.list_slots(s)] for s in SITES
            },
            "tallies": [
                (s.site, s.applied_seq, s.deposits, s.pickups, s.removals, s.lost)
                for s in session.list_streams()
            ],
            "alarms": sorted((a.site, a.kind, a.ref) for a in session.list_alarms()),
            "held": sorted(Counter(r.site for r in held).items()),
            "removals": sorted((r.label, r.site, r.reason) for r in session.open_removals()),
        }


def checks(location: str) -> None:
    """What must hold whatever the timing: no slot or parcel with two held reservations,
    no capacity over-booked, no reminder or expiry twice, no consumer given two codes."""
    with open_reader(location) as reader:
        session = reader.view
        held = session.held_reservations()
        by_slot = Counter((r.site, r.slot) for r in held if r.slot is not None)
        assert max(by_slot.values(), default=0) <= 1, by_slot.most_common(3)
        by_parcel = Counter(r.label for r in held)
        assert max(by_parcel.values(), default=0) <= 1, by_parcel.most_common(3)
        per_site = Counter(r.site for r in held)
        assert per_site["W0001"] <= WAVE_SLOTS and per_site["W0002"] <= WAVE, per_site
        for n in range(1, BURST + WAVE + 1):
            steps = Counter(str(s.step) for s in session.steps(label(n)))
            assert steps["remind"] <= 1 and steps["expire"] <= 1, (label(n), steps)
            assert steps["assign"] <= 1 and steps["deposit"] <= 1, (label(n), steps)
            assert len(session.codes(label(n))) <= 1, label(n)


class CentralProcess:
    def __init__(self, config_path: Path, client_id: str, log_path: Path) -> None:
        self.config_path, self.client_id, self.log_path = config_path, client_id, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "LOCKERNET_CENTRAL__BROKER__CLIENT_ID": self.client_id}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(LOCKERNET), "central", "run", "--config", str(self.config_path)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        eventually(
            lambda: self.log().count("subscribed to the sites") >= self.starts,
            timeout=30,
            what=f"{self.client_id} subscribed",
        )

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_config(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    """The shared store: a SQLite file, or a fresh PostgreSQL database on the test server."""
    if request.param == "sqlite":
        return StoreConfig(path=tmp_path / "central.sqlite")
    return StoreConfig(url=request.getfixturevalue("pg_url"))


@pytest.fixture
def centrals(tmp_path: Path) -> Iterator[Callable[[Path], list[CentralProcess]]]:
    """Makes the central processes; any still running at the end is killed."""
    made: list[CentralProcess] = []

    def make(config_path: Path) -> list[CentralProcess]:
        made.extend(CentralProcess(config_path, c, tmp_path / f"{c}.log") for c in CENTRALS)
        return made

    yield make
    for process in made:
        process.kill()


def wave_config(
    tmp_path: Path, broker: Any, topics: Topics, signer: TokenSigner, store_config: StoreConfig
) -> tuple[CentralConfig, Path]:
    """Central's config for the wave day (short pickup window and holds, timers that place
    only the wave), its signing key and network file written beside it; (config, its toml)."""
    (tmp_path / "central-key.pem").write_bytes(signer.private_pem())
    save_network(wave_network(), tmp_path / "network.json")
    config = central_config(
        tmp_path,
        broker,
        topics,
        network={"file": str(tmp_path / "network.json")},
        pickup={"window_s": WINDOW_S, "reminder_before_s": REMIND_BEFORE_S},
        service={"replace_after_s": REPLACE_AFTER_S},
        reservations={"hold_s": HOLD_S},
        liveness={"stale_after_s": 3600},
    ).model_copy(update={"store": store_config})
    config_path = tmp_path / "central.toml"
    config_path.write_text(config_toml(config))
    return config, config_path


def test_three_central_processes_one_killed_reach_the_state_of_one(
    *,
    tmp_path: Path,
    broker: Any,
    topics: Topics,
    signer: TokenSigner,
    store_config: StoreConfig,
    make_site: Callable[..., Site],
    centrals: Callable[[Path], list[CentralProcess]],
) -> None:
    config, config_path = wave_config(tmp_path, broker, topics, signer, store_config)
    store = open_store(store_config)
    prepare(store, time.time())

    days = {site: site_day(site, 1 + i * PARCELS_PER_SITE) for i, site in enumerate(SITES)}
    expected_store = reference(tmp_path, config, signer, topics, days)
    expected_store.close()
    expected = final_state(str(tmp_path / "reference.sqlite"))
    location = store_location(store_config)

    processes = centrals(config_path)
    for process in processes:
        process.start()
    sites = {site: make_site(site) for site in SITES}
    rng = random.Random(7)
    # Each site sends its day with some events sent twice and neighbours swapped.
    noisy: dict[str, list[Event]] = {}
    for site, events in days.items():
        sent = events + rng.sample(events, len(events) // 5)
        for i in range(0, len(sent) - 1, 3):
            sent[i], sent[i + 1] = sent[i + 1], sent[i]
        noisy[site] = sent
    half = {site: len(sent) // 2 for site, sent in noisy.items()}
    for site, sent in noisy.items():
        sites[site].send(*sent[: half[site]])
    # The wave becomes due for every process's timer; one process dies without a word while
    # the burst and the wave are under way, and systemd starts it again.
    announce_wave(store, time.time())
    killed = processes[0]
    assert killed.stop(signal.SIGKILL) == -signal.SIGKILL
    for site, sent in noisy.items():
        sites[site].send(*sent[half[site] :])
    killed.start()

    def settled() -> bool:
        checks(location)  # at every look: no over-booking while the wave's holds last
        return final_state(location) == expected

    # The last six parcels of each site expire WINDOW_S after their deposit; the wave's
    # reservations lapse HOLD_S after it was placed.
    try:
        eventually(settled, timeout=WINDOW_S + 60, what="the processes to reach the reference")
    except AssertionError as exc:
        if not str(exc).startswith("waited"):
            raise  # a check failed on the way
        actual = final_state(location)  # which part never came to the reference's

        for key in expected:
            assert actual[key] == expected[key], key
        raise
    assert all(p.stop() == 0 for p in processes)
    checks(location)
    with open_reader(location) as reader:
        duplicates = sum(s.duplicates for s in reader.view.list_streams())
        rows = reader.view.list_processes()
    # Every event sent twice was counted as a duplicate (and the broker's redeliveries).
    assert duplicates >= sum(len(e) // 5 for e in days.values())
    # Four starts, four rows: three stopped in order, the killed one's without a stop.
    assert sorted((r.client_id, r.stopped_at is not None) for r in rows) == sorted(
        [(c, True) for c in CENTRALS] + [(killed.client_id, False)]
    )
    store.close()
    received = [
        int(m) for p in processes for m in re.findall(r"stopped: (\d+) events received", p.log())
    ]
    assert len(received) == 3 and all(n > 0 for n in received), received  # each did a share
