"""Two `lockernet central run` processes on one shared subscription and one store reach the
same final state as one process would, even when one of them is killed (-9) mid-stream."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from central.parcels.steps import announce
from central.service.config import CentralConfig
from central.sites import registry
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import SqliteStore
from protocols.messages import Event, SizeClass, SlotState, encode
from protocols.tokens import TokenSigner
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

pytestmark = pytest.mark.broker
SITES = ("L0001", "L0002", "C0001")
SLOTS = "ABCDEF"
PARCELS_PER_SITE = 40
LOCKERNET = Path(sys.executable).with_name("lockernet")


def site_day(site: str, first: int) -> list[Event]:
    """Deposits into six slots in turn; each parcel collected two rounds later."""
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


def prepare(path: Path) -> None:
    store = SqliteStore(path)
    with store.transaction() as session:
        registry.load_network(session, small_network())
        for site in SITES:
            registry.apply_snapshot(
                session,
                snapshot(site, [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS]),
                time.time(),
            )
        for n in range(1, len(SITES) * PARCELS_PER_SITE + 1):
            announce(session, announcement(n), time.time())
    store.close()


def final_state(path: Path) -> dict[str, Any]:
    with SqliteStore(path).transaction() as session:
        parcels = {}
        for n in range(1, len(SITES) * PARCELS_PER_SITE + 1):
            record = session.get_parcel(label(n))
            assert record is not None
            # Whether a code went out before the pickup depends on timing, not on ordering.
            steps = [
                (s.step, s.after, s.source) for s in session.steps(label(n)) if s.step != "notify"
            ]
            parcels[label(n)] = (record.state, record.site, record.slot, steps)
        return {
            "parcels": parcels,
            "slots": {
                s: [(x.slot, x.state, x.parcel) for x in session.list_slots(s)] for s in SITES
            },
            "tallies": [
                (s.site, s.applied_seq, s.deposits, s.pickups) for s in session.list_streams()
            ],
            "alarms": sorted((a.site, a.kind, a.ref) for a in session.list_alarms()),
        }


def codes_per_parcel(path: Path) -> set[int]:
    with SqliteStore(path).transaction() as session:
        return {len(session.codes(label(n))) for n in range(1, len(SITES) * PARCELS_PER_SITE + 1)}


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
            what=f"{self.client_id} subscribed",
        )

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(30)


def test_two_central_processes_on_one_shared_subscription(
    tmp_path: Path,
    config: CentralConfig,
    signer: TokenSigner,
    topics: Topics,
    make_site: Callable[..., Site],
) -> None:
    (tmp_path / "central-key.pem").write_bytes(signer.private_pem())
    config_path = tmp_path / "central.toml"
    config_path.write_text(config_toml(config))
    prepare(config.store.path)
    reference = tmp_path / "reference.sqlite"
    prepare(reference)

    days = {site: site_day(site, 1 + i * PARCELS_PER_SITE) for i, site in enumerate(SITES)}
    # The reference: one ingester, every site's events once and in order.
    ingest = Ingest(SqliteStore(reference), topics, EventEffects(config.pickup), config.ingest)
    for events in days.values():
        ingest.commit(
            [Delivery(topics.site(e.site, SiteChannel.EVENTS), encode(e)) for e in events],
            time.time(),
        )

    a = CentralProcess(config_path, "central-a", tmp_path / "a.log")
    b = CentralProcess(config_path, "central-b", tmp_path / "b.log")
    a.start()
    b.start()
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
    # One process dies without a word in the middle of the day, and comes back.
    assert a.stop(signal.SIGKILL) == -signal.SIGKILL
    for site, sent in noisy.items():
        sites[site].send(*sent[half[site] :])
    a.start()

    expected = final_state(reference)
    eventually(
        lambda: final_state(config.store.path)["tallies"] == expected["tallies"],
        timeout=60,
        what="both processes to apply every site's day",
    )
    assert a.stop() == 0 and b.stop() == 0
    assert final_state(config.store.path) == expected
    assert codes_per_parcel(config.store.path) <= {0, 1}  # no consumer got two codes
    received = [
        int(m)
        for log in (a.log(), b.log())
        for m in re.findall(r"stopped: (\d+) events received", log)
    ]
    assert len(received) == 2 and all(n > 0 for n in received), received  # both did a share
