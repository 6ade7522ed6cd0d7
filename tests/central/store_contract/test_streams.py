"""Streams and events on every store: cursors, events stored once, waiting and applied."""

from __future__ import annotations

import dataclasses

import pytest

from central.store.base import CentralStore
from central.store.records import StoredEvent, StreamCursor
from tests.central.store_contract.samples import SITE, T0


def event(stream: int, seq: int, site: str = SITE, event_id: str | None = None) -> StoredEvent:
    return StoredEvent(
        site=site,
        seq=seq,
        event_id=event_id or f"{site}-{stream}-{seq}",
        type="parcel_deposited",
        at=T0 + seq,
        payload=f'{{"seq": {seq}}}',
        received_at=T0 + 100 + seq,
        stream=stream,
    )


def test_a_site_without_a_stream_gets_an_unsaved_cursor(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        assert session.stream(SITE) == StreamCursor(SITE)
        assert session.stream(SITE, "0a0a") == StreamCursor(SITE, epoch="0a0a")
        assert session.list_streams() == []


def test_a_stream_comes_back_as_saved_and_an_update_keeps_its_id(any_store: CentralStore) -> None:
    cursor = StreamCursor(
        SITE,
        applied_seq=4,
        max_received_seq=7,
        gap_since=T0,
        resend_requested_at=T0 + 1,
        resend_count=2,
        deposits=3,
        pickups=1,
        removals=1,
        duplicates=5,
        lost=1,
        epoch="0a0a0a0a",
        base_seq=1,
        started_at=T0 - 10,
        cause="restart",
        reconciled=False,
    )
    with any_store.transaction() as session:
        saved = session.save_stream(cursor)
        assert saved.id is not None and saved == dataclasses.replace(cursor, id=saved.id)
    with any_store.transaction() as session:
        assert session.stream(SITE) == saved
        assert session.stream(SITE, "0a0a0a0a") == saved
        moved = dataclasses.replace(saved, applied_seq=7, gap_since=None, reconciled=True)
        assert session.save_stream(moved) == moved
    with any_store.transaction() as session:
        assert session.stream(SITE) == moved
        assert session.list_streams() == [moved]


def test_a_new_stream_takes_over_and_the_old_one_stays_findable(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        old = session.save_stream(StreamCursor(SITE, epoch="old", applied_seq=9))
        other = session.save_stream(StreamCursor("C0001", epoch="c"))
        closed = session.save_stream(dataclasses.replace(old, closed_at=T0))
        new = session.save_stream(StreamCursor(SITE, epoch="new", cause="restart"))
        new = session.save_stream(dataclasses.replace(new, closed_at=T0 + 1))
        rewound = session.save_stream(StreamCursor(SITE, epoch="old", base_seq=8, cause="rewind"))
    with any_store.transaction() as session:
        assert session.stream(SITE) == rewound
        assert session.stream(SITE, "old") == rewound  # the newest stream of the epoch
        assert session.stream(SITE, "new") == new
        assert [s.id for s in session.list_streams()] == [other.id, closed.id, new.id, rewound.id]
        assert not closed.current and rewound.current


def test_a_second_current_stream_of_a_site_is_refused(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_stream(StreamCursor(SITE, epoch="a"))
    with pytest.raises(any_store.errors), any_store.transaction() as session:
        session.save_stream(StreamCursor(SITE, epoch="b"))
    with any_store.transaction() as session:
        assert [s.epoch for s in session.list_streams()] == ["a"]


def test_streams_waiting_since_a_time_are_those_with_an_older_gap(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        early = session.save_stream(StreamCursor(SITE, gap_since=T0))
        session.save_stream(StreamCursor("L0002", gap_since=T0 + 50))
        session.save_stream(StreamCursor("C0001"))
    with any_store.transaction() as session:
        assert session.streams_waiting_since(T0 - 1) == []
        assert session.streams_waiting_since(T0) == [early]
        assert [s.site for s in session.streams_waiting_since(T0 + 60)] == [SITE, "L0002"]


def test_an_event_stored_twice_is_stored_once_as_first_received(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        stream = session.save_stream(StreamCursor(SITE)).id or 0
        session.add_events([event(stream, 1), event(stream, 2)])
        session.add_events([event(stream, 2, event_id="again"), event(stream, 3)])
        # The same batch twice in one call (a redelivery inside one batch).
        session.add_events([event(stream, 4), event(stream, 4)])
    with any_store.transaction() as session:
        assert [e.seq for e in session.waiting_events(stream, 0)] == [1, 2, 3, 4]
        assert session.get_event(stream, 2) == event(stream, 2)
        assert session.get_event(stream, 9) is None


def test_waiting_events_are_those_not_applied_after_a_seq_in_order(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        stream = session.save_stream(StreamCursor(SITE)).id or 0
        other = session.save_stream(StreamCursor("L0002")).id or 0
        session.add_events([event(stream, seq) for seq in (5, 3, 1, 2, 4)])
        session.add_events([event(other, 1, site="L0002")])
        session.mark_applied(stream, [1, 2], T0 + 500)
    with any_store.transaction() as session:
        assert [e.seq for e in session.waiting_events(stream, 0)] == [3, 4, 5]
        assert [e.seq for e in session.waiting_events(stream, 3)] == [4, 5]
        assert [e.seq for e in session.waiting_events(stream, 0, limit=2)] == [3, 4]
        applied = session.get_event(stream, 1)
        assert applied is not None and applied.applied_at == T0 + 500
        assert [e.site for e in session.waiting_events(other, 0)] == ["L0002"]


def test_known_event_ids_look_in_every_stream_of_the_site_only(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        first = session.save_stream(StreamCursor(SITE, epoch="a", closed_at=T0)).id or 0
        second = session.save_stream(StreamCursor(SITE, epoch="b")).id or 0
        elsewhere = session.save_stream(StreamCursor("L0002")).id or 0
        session.add_events([event(first, 1, event_id="x1"), event(second, 1, event_id="x2")])
        session.add_events([event(elsewhere, 1, site="L0002", event_id="y1")])
        # More ids than one statement's parameters may take on SQLite (chunked).
        many = [f"m{n}" for n in range(1_200)]
        session.add_events([event(second, n + 2, event_id=i) for n, i in enumerate(many)])
    with any_store.transaction() as session:
        assert session.known_event_ids(SITE, ["x1", "x2", "y1", "zz"]) == {"x1", "x2"}
        assert session.known_event_ids("L0002", ["x1", "y1"]) == {"y1"}
        assert session.known_event_ids(SITE, []) == set()
        assert session.known_event_ids(SITE, [*many, "zz", "m7"]) == set(many)
