"""Ingest over a real SQLite file: whatever order, duplication or loss the network causes,
each site's events take effect once and in sequence, and a gap is asked for again.

(The same runs over a real broker with real site clients are in test_central_service.py;
these are the exhaustive, fast versions.)
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from central.service.config import IngestConfig, PickupConfig
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import CentralStore, SqliteStore
from protocols.messages import Event, encode
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    SiteEvents,
    label,
    stock_store,
)

TOPICS = Topics("lockernet-test/ingest/v1")
NOW = 1_800_000_100.0


def open_store(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    stock_store(store, NOW, 30)
    return store


def make_ingest(store: CentralStore, **config: Any) -> Ingest:
    return Ingest(store, TOPICS, EventEffects(PickupConfig()), IngestConfig(**config))


def a_day() -> list[Event]:
    """Two sites' day: deposits, pickups, a door left open and closed, a forced door."""
    events: list[Event] = []
    for site, slots, first in (("L0001", "ABCDE", 1), ("L0002", "FGH", 20)):
        log = SiteEvents(site)
        n = first
        for round_ in range(3):
            for slot in slots:
                events.append(log.deposit(label(n), slot))
                n += 1
            events.append(log.door_left_open(slots[0]))
            events.append(log.door_closed(slots[0]))
            for i, slot in enumerate(slots):
                if round_ < 2 or i % 2 == 0:  # some parcels still wait at the end of the day
                    events.append(log.pickup(label(n - len(slots) + i), slot))
        if site == "L0002":
            events.append(log.door_forced("G"))
    return events


def delivery(event: Event) -> Delivery:
    return Delivery(TOPICS.site(event.site, SiteChannel.EVENTS), encode(event))


def feed(ingest: Ingest, events: list[Event], rng: random.Random | None = None) -> None:
    """Commit in batches of random size (as the service's timer cuts them)."""
    rng = rng or random.Random(0)
    i = 0
    while i < len(events):
        size = rng.randint(1, 7)
        ingest.commit([delivery(e) for e in events[i : i + size]], NOW)
        i += size


def state(store: SqliteStore) -> dict[str, Any]:
    """Everything a user would notice, without timestamps."""
    with store.transaction() as session:
        parcels = {}
        for n in range(1, 31):
            p = session.get_parcel(label(n))
            assert p is not None
            steps = [(s.step, s.after, s.source) for s in session.steps(label(n))]
            parcels[p.label] = (p.state, p.site, p.slot, steps)
        return {
            "parcels": parcels,
            "slots": {
                site: [(s.slot, s.state, s.parcel) for s in session.list_slots(site)]
                for site in ("L0001", "L0002")
            },
            "tallies": [
                (s.site, s.applied_seq, s.deposits, s.pickups, s.removals)
                for s in session.list_streams()
            ],
            "alarms": sorted((a.site, a.kind, a.ref) for a in session.list_alarms()),
            "tasks": sorted((t.kind, t.label or "") for t in session.open_tasks()),
        }


@pytest.fixture
def day() -> list[Event]:
    return a_day()


@pytest.fixture
def expected(tmp_path: Path, day: list[Event]) -> dict[str, Any]:
    store = open_store(tmp_path / "reference.sqlite")
    feed(make_ingest(store), day)
    return state(store)


def counts(events: list[Event]) -> tuple[int, int]:
    return (
        sum(1 for e in events if e.type == "parcel_deposited"),
        sum(1 for e in events if e.type == "parcel_picked_up"),
    )


def test_the_reference_day_comes_out_as_the_sites_saw_it(
    expected: dict[str, Any], day: list[Event]
) -> None:
    l1 = [e for e in day if e.site == "L0001"]
    l2 = [e for e in day if e.site == "L0002"]
    assert expected["tallies"] == [
        ("L0001", len(l1), *counts(l1), 0),
        ("L0002", len(l2), *counts(l2), 0),
    ]
    states = [p[0] for p in expected["parcels"].values()]
    assert states.count("collected") == counts(day)[1]
    assert states.count("ready_for_pickup") == counts(day)[0] - counts(day)[1]
    assert expected["alarms"] == [("L0002", "door_forced", "G")]  # the left-open door closed
    # Every waiting parcel gets a code, a reminder and an expiry; collected ones keep theirs
    # too, harmlessly: each task checks the parcel still waits before it acts.
    assert sum(1 for kind, _ in expected["tasks"] if kind == "issue_code") == counts(day)[0]


def test_duplicated_events_take_effect_once(
    tmp_path: Path, day: list[Event], expected: dict[str, Any]
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    doubled = [e for event in day for e in (event, event)]
    feed(make_ingest(store), doubled)
    assert state(store) == expected
    with store.transaction() as session:
        assert sum(s.duplicates for s in session.list_streams()) == len(day)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reordered_events_are_applied_in_sequence_order(
    tmp_path: Path, day: list[Event], expected: dict[str, Any], seed: int
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    shuffled = day[:]
    random.Random(seed).shuffle(shuffled)
    feed(make_ingest(store), shuffled, random.Random(seed))
    assert state(store) == expected


def test_a_missing_event_holds_its_successors_and_is_asked_for_again(
    tmp_path: Path, day: list[Event], expected: dict[str, Any]
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    ingest = make_ingest(store, gap_timeout_s=30.0)
    missing = next(e for e in day if e.site == "L0001" and e.seq == 4)
    feed(ingest, [e for e in day if e is not missing])
    with store.transaction() as session:
        l1 = session.stream("L0001")
        assert l1.applied_seq == 3  # nothing after the hole took effect
        assert session.get_parcel(label(4)) is not None
        assert session.get_parcel(label(5)).state == "announced"  # type: ignore[union-attr]

    assert ingest.check_gaps(NOW + 10) == []  # not yet: it may still be on its way
    assert ingest.check_gaps(NOW + 31) == [("L0001", 4)]
    with store.transaction() as session:
        [task] = session.open_tasks("send_command")
        assert task.site == "L0001" and '"from_seq":4' in task.payload
    assert ingest.check_gaps(NOW + 40) == []  # asked recently: not again yet

    ingest.commit([delivery(missing)], NOW + 41)  # the site resends it
    assert {k: v for k, v in state(store).items() if k != "tasks"} == {
        k: v for k, v in expected.items() if k != "tasks"
    }


def test_a_gap_never_filled_is_given_up_with_an_alarm_and_the_rest_applied(
    tmp_path: Path, day: list[Event]
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    ingest = make_ingest(store, gap_timeout_s=30.0, gap_give_up_s=3600.0)
    lost = {e.seq for e in day if e.site == "L0002" and e.seq in (2, 3)}
    feed(ingest, [e for e in day if not (e.site == "L0002" and e.seq in lost)])
    ingest.check_gaps(NOW + 3600)
    with store.transaction() as session:
        l2 = session.stream("L0002")
        assert l2.applied_seq == len([e for e in day if e.site == "L0002"])
        assert l2.lost == 2
        alarms = {(a.kind, a.ref) for a in session.list_alarms()}
        assert ("events_lost", "2-3") in alarms


def test_a_replay_of_the_whole_day_changes_nothing(
    tmp_path: Path, day: list[Event], expected: dict[str, Any]
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    ingest = make_ingest(store)
    feed(ingest, day)
    feed(ingest, day, random.Random(9))
    assert state(store) == expected


def test_two_ingesting_processes_sharing_the_stream_reach_the_same_state(
    tmp_path: Path, day: list[Event], expected: dict[str, Any]
) -> None:
    """Round-robin halves of every site's stream, committed concurrently by two ingesters
    with their own connections to one file (as two processes would)."""
    path = tmp_path / "c.sqlite"
    open_store(path).close()
    halves = (day[0::2], day[1::2])

    def run(events: list[Event], seed: int) -> None:
        feed(make_ingest(SqliteStore(path)), events, random.Random(seed))

    threads = [threading.Thread(target=run, args=(h, i)) for i, h in enumerate(halves)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state(SqliteStore(path)) == expected


def test_malformed_and_misattributed_messages_change_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "c.sqlite")
    ingest = make_ingest(store)
    log = SiteEvents("L0001")
    good = log.deposit(label(1), "A")
    impostor = SiteEvents("L0002").deposit(label(2), "F")
    result = ingest.commit(
        [
            Delivery(TOPICS.site("L0001", SiteChannel.EVENTS), b"{not json"),
            Delivery(TOPICS.site("L0001", SiteChannel.EVENTS), b'{"v": 9, "site": "L0001"}'),
            # L0002's event published on L0001's topic: one site cannot speak for another.
            Delivery(TOPICS.site("L0001", SiteChannel.EVENTS), encode(impostor)),
            delivery(good),
        ],
        NOW,
    )
    assert (result.rejected, result.applied) == (3, 1)
    with store.transaction() as session:
        assert session.get_parcel(label(2)).state == "announced"  # type: ignore[union-attr]
        assert session.get_parcel(label(1)).state == "ready_for_pickup"  # type: ignore[union-attr]


class _Poisoned(EventEffects):
    """Effects with a bug that only one event of the day triggers."""

    def apply(self, session: Any, event: Event, now: float) -> Any:
        if event.site == "L0001" and event.seq == 3:
            raise KeyError("a rule nobody foresaw")
        return super().apply(session, event, now)


def test_an_event_central_cannot_apply_is_set_aside_with_an_alarm_and_blocks_nothing(
    tmp_path: Path, day: list[Event]
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    ingest = Ingest(store, TOPICS, _Poisoned(PickupConfig()), IngestConfig())
    result = ingest.commit([delivery(e) for e in day], NOW)
    assert result.applied == len(day)  # every event stored and past the cursor
    with store.transaction() as session:
        alarms = {(a.site, a.kind, a.ref) for a in session.list_alarms()}
        assert ("L0001", "event_failed", "3") in alarms
        # Its deposit never took effect, so its later pickup contradicts central's view: the
        # parcel is an exception an operator sees, next to the alarm.
        assert session.get_parcel(label(3)).state == "exception"  # type: ignore[union-attr]
        assert session.get_parcel(label(4)).state == "collected"  # type: ignore[union-attr]
        assert session.get_parcel(label(20)).state != "announced"  # type: ignore[union-attr]
