"""On every store: a site's event stream restarted (its store lost or replaced) or rewound
(its store lost its last writes): central tells them from duplicates by the stream's epoch
and the event's id, applies every new event once and in the site's order, and raises an
alarm. Central orders a site's reports by stream and sequence, never by the site's clock.

(The same end to end, with real agents whose store is deleted or whose WAL is cut, is in
tests/edge/test_store_faults.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from central.operator.fleet import fleet
from central.sites.ingest import Delivery, Ingest
from central.store.base import CentralStore
from protocols.messages import Event, SizeClass, SlotState, StateSnapshot, encode
from protocols.topics import SiteChannel
from tests.central.central_rig import SiteEvents, label, snapshot
from tests.central.store_contract import racers
from tests.central.store_contract.stores import open_location
from tests.central.test_ingest import NOW, TOPICS, delivery, make_ingest

OLD, NEW = "0a0a0a0a0a0a0a0a", "0b0b0b0b0b0b0b0b"
SLOTS = "ABCDE"


@pytest.fixture
def store(store_location: str) -> Iterator[CentralStore]:
    """Two lockers with their slots free and 30 parcels announced, on each kind of store."""
    racers.prepare_day(store_location)
    opened = open_location(store_location)
    yield opened
    opened.close()


def first_nine(epoch: str | None = OLD) -> list[Event]:
    """L0001's events 1..9: five deposits (parcels 1-5 in A-E), four pickups (1-4)."""
    log = SiteEvents("L0001", epoch=epoch)
    events = [log.deposit(label(n), slot) for n, slot in zip(range(1, 6), SLOTS, strict=True)]
    events += [log.pickup(label(n), slot) for n, slot in zip(range(1, 5), SLOTS[:4], strict=True)]
    return events


def commit(ingest: Ingest, *events: Event, at: float = NOW) -> None:
    ingest.commit([delivery(e) for e in events], at)


def alarms(store: CentralStore) -> set[str]:
    with store.transaction() as session:
        return {a.kind for a in session.list_alarms() if a.site == "L0001"}


def steps(store: CentralStore, n: int) -> list[str]:
    with store.transaction() as session:
        return [s.step for s in session.steps(label(n))]


def parcel_state(store: CentralStore, n: int) -> str | None:
    with store.transaction() as session:
        record = session.get_parcel(label(n))
    assert record is not None
    return record.state


def test_a_lost_store_starts_a_new_stream_whose_events_all_take_effect(store: CentralStore) -> None:
    ingest = make_ingest(store)
    commit(ingest, *first_nine())
    assert parcel_state(store, 5) == "ready_for_pickup"

    # A spare Pi with a fresh store: its snapshot knows nothing of parcel 5 in E, and it
    # numbers its events from 1 again.
    fresh = snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS], epoch=NEW)
    ingest.commit([delivery_of_state(fresh)], NOW + 1)
    log = SiteEvents("L0001", epoch=NEW)
    commit(ingest, log.deposit(label(6), "A"), log.deposit(label(7), "B"), at=NOW + 2)

    assert parcel_state(store, 6) == parcel_state(store, 7) == "ready_for_pickup"
    assert {"stream_restarted", "state_differs"} <= alarms(store)
    with store.transaction() as session:
        differs = next(a for a in session.list_alarms() if a.kind == "state_differs")
        assert differs.detail is not None and f"E: central occupied {label(5)}" in differs.detail
        current = session.stream("L0001")
        assert (current.epoch, current.applied_seq, current.deposits) == (NEW, 2, 2)
        assert session.stream("L0001", OLD).applied_seq == 9
        view = fleet(session)
    [site] = [s for s in view.sites if s.site == "L0001"]
    assert (site.deposits, site.pickups) == (7, 4)

    # The old stream redelivered (a broker's queue, the other central member): duplicates.
    commit(ingest, *first_nine(), at=NOW + 3)
    for n in range(1, 8):
        assert steps(store, n).count("deposit") == 1
    assert all(steps(store, n).count("pick_up") == 1 for n in range(1, 5))


def test_a_store_rolled_back_reuses_seqs_and_the_new_events_are_applied_not_dropped(
    store: CentralStore,
) -> None:
    ingest = make_ingest(store)
    day = first_nine()
    commit(ingest, *day)

    # The card lost seqs 8 and 9 (pickups of parcels 3 and 4, which did happen): the
    # restarted agent, in the same epoch, numbers its next events 8, 9, 10.
    log = SiteEvents("L0001", epoch=OLD, seq=7)
    again = [
        Event(**{**e.model_dump(), "id": f"after-{e.seq}"})
        for e in (
            log.pickup(label(5), "E"),
            log.deposit(label(8), "A"),
            log.deposit(label(9), "B"),
        )
    ]
    commit(ingest, again[0])
    commit(ingest, *day[7:])  # the lost writes' events, redelivered: duplicates
    commit(ingest, *again[1:])

    assert "stream_rewound" in alarms(store)
    assert parcel_state(store, 5) == "collected"
    assert parcel_state(store, 8) == parcel_state(store, 9) == "ready_for_pickup"
    assert all(steps(store, n).count("pick_up") == 1 for n in range(1, 6))
    with store.transaction() as session:
        current = session.stream("L0001")
        assert (current.epoch, current.base_seq, current.applied_seq) == (OLD, 8, 10)
        assert current.cause == "rewind"
        assert sum(s.duplicates for s in session.list_streams()) == 2


def test_a_new_event_under_a_seq_still_waiting_is_a_rewind_too(store: CentralStore) -> None:
    ingest = make_ingest(store, gap_timeout_s=30.0)
    day = first_nine()
    commit(ingest, *day[:5], day[6])  # seq 6 is on its way; 7 waits for it
    log = SiteEvents("L0001", epoch=OLD, seq=6)
    other = Event(**{**log.pickup(label(5), "E").model_dump(), "id": "another-7"})
    commit(ingest, other)
    assert "stream_rewound" in alarms(store)
    assert parcel_state(store, 5) == "collected"  # not held behind the old stream's gap
    ingest.check_gaps(NOW + 31)  # the closed stream's waiting event: applied, 6 given up
    assert parcel_state(store, 2) == "collected"
    assert steps(store, 5).count("pick_up") == 1


def test_a_snapshot_behind_what_central_applied_raises_an_alarm(store: CentralStore) -> None:
    ingest = make_ingest(store)
    commit(ingest, *first_nine())
    # Stamped after the events it has not seen (taken before them, it is old news: see
    # tests/central/test_field_attacks.py).
    behind = snapshot(
        "L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS], 7, NOW, epoch=OLD
    )
    ingest.commit([delivery_of_state(behind)], NOW + 1)
    assert "snapshot_behind" in alarms(store)
    with store.transaction() as session:
        assert session.get_slot("L0001", "E").parcel == label(5)  # type: ignore[union-attr]


def test_a_retained_snapshot_replayed_behind_is_old_news_not_an_alarm(store: CentralStore) -> None:
    # A second central member subscribing, or a broker restored from its persistence file,
    # replays the retained snapshot it holds: older than the events applied since, by nature.
    ingest = make_ingest(store)
    commit(ingest, *first_nine())
    old = snapshot(
        "L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS], 7, NOW, epoch=OLD
    )
    replayed = Delivery(TOPICS.site("L0001", SiteChannel.STATE), encode(old), retained=True)
    ingest.commit([replayed], NOW + 1)
    assert "snapshot_behind" not in alarms(store)
    with store.transaction() as session:
        assert session.get_slot("L0001", "E").parcel == label(5)  # type: ignore[union-attr]
    # The same picture published live is a store that lost writes: raised (the sentinel that
    # the replay above was read and judged, not skipped unread).
    ingest.commit([delivery_of_state(old)], NOW + 2)
    assert "snapshot_behind" in alarms(store)


def test_snapshots_are_ordered_by_stream_and_seq_never_by_the_sites_clock(
    store: CentralStore,
) -> None:
    ingest = make_ingest(store)
    slots = [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS]
    ahead = snapshot("L0001", slots, 0, at=NOW + 4 * 3600, epoch=OLD)  # clock hours ahead
    ingest.commit([delivery_of_state(ahead)], NOW)
    corrected = snapshot(
        "L0001", [("A", SizeClass.S, SlotState.OUT_OF_SERVICE, None), *slots[1:]], 0, epoch=OLD
    )
    ingest.commit([delivery_of_state(corrected)], NOW + 5)
    with store.transaction() as session:
        assert session.get_slot("L0001", "A").state == "out_of_service"  # type: ignore[union-attr]
    assert "snapshot_behind" not in alarms(store)


def test_an_event_given_up_on_that_arrives_late_is_applied_not_dropped(store: CentralStore) -> None:
    ingest = make_ingest(store, gap_timeout_s=30.0, gap_give_up_s=60.0)
    day = first_nine()
    commit(ingest, *[e for e in day if e.seq != 6])
    ingest.check_gaps(NOW + 61)
    assert parcel_state(store, 1) == "ready_for_pickup"  # its pickup (seq 6) given up on
    commit(ingest, day[5], at=NOW + 70)  # ... and here it is after all
    assert parcel_state(store, 1) == "collected"
    assert "stream_rewound" not in alarms(store)


def test_an_agent_upgraded_to_epochs_numbers_on_in_the_same_stream(store: CentralStore) -> None:
    ingest = make_ingest(store)
    legacy = first_nine(epoch=None)
    commit(ingest, *legacy[:5])
    upgraded = [Event(**{**e.model_dump(), "epoch": NEW}) for e in legacy[5:]]
    commit(ingest, *upgraded)
    assert parcel_state(store, 4) == "collected"
    assert not {"stream_restarted", "stream_rewound"} & alarms(store)
    with store.transaction() as session:
        assert [(s.epoch, s.applied_seq) for s in session.list_streams() if s.site == "L0001"] == [
            (NEW, 9)
        ]


def delivery_of_state(snap: StateSnapshot) -> Delivery:
    return Delivery(TOPICS.site(snap.site, SiteChannel.STATE), encode(snap))


def test_a_pickup_reported_again_by_a_rewound_store_is_the_same_pickup(store: CentralStore) -> None:
    ingest = make_ingest(store)
    day = first_nine()
    commit(ingest, *day)
    # The store lost the pickup of parcel 4 (seq 9) and finds its door closed on an empty
    # slot: it reports that pickup again, under seq 9 and a new id.
    again = Event(**{**day[8].model_dump(), "id": "found-again-9"})
    commit(ingest, again)
    assert "stream_rewound" in alarms(store)
    assert parcel_state(store, 4) == "collected"  # not an exception: one pickup, told twice
    assert steps(store, 4).count("pick_up") == 1
    with store.transaction() as session:
        assert sum(s.pickups for s in session.list_streams()) == 4
