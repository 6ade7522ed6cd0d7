"""The console's live updates: only what changed is sent, and open pages share their reads."""

from __future__ import annotations

import threading

from central.web.console.live import RecentReads, changes, event


def test_an_update_carries_only_the_sites_and_slots_that_changed() -> None:
    before = {
        "sites": {"L0001": "online", "L0002": "full"},
        "alarms": 0,
        "slots": {"A01": ["free", "A01 (S): free"], "A02": ["occupied", "A02 (S): occupied"]},
    }
    now = {
        "sites": {"L0001": "online", "L0002": "alarms"},
        "alarms": 1,
        "slots": {"A01": ["open", "A01 (S): open"], "A02": ["occupied", "A02 (S): occupied"]},
    }
    assert changes(before, now) == {
        "sites": {"L0002": "alarms"},
        "alarms": 1,
        "slots": {"A01": ["open", "A01 (S): open"]},
    }
    assert changes(now, now) == {}
    # A connection's first event carries everything.
    assert changes({}, now) == now
    assert event({"alarms": 1}) == 'data: {"alarms":1}\n\n'


def test_pages_open_at_once_share_one_read_of_the_store() -> None:
    recent = RecentReads(max_age_s=60.0)
    reads: list[int] = []
    gate = threading.Event()

    def read() -> dict[str, object]:
        gate.wait(5)
        reads.append(1)
        return {"alarms": len(reads)}

    results: list[dict[str, object]] = []
    pages = [
        threading.Thread(target=lambda: results.append(recent.get(("store", None), read)))
        for _ in range(5)
    ]
    for each in pages:
        each.start()
    gate.set()
    for each in pages:
        each.join(10)
    assert results == [{"alarms": 1}] * 5
    assert len(reads) == 1
    # Another site's page reads for itself.
    assert recent.get(("store", "L0001"), read) == {"alarms": 2}
