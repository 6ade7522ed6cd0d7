"""A site store of schema 1 (before event streams had epochs) keeps its streams and events
when migrated. (How central handles restarted and rewound streams, on every store, is in
tests/central/store_contract/test_stream_changes.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from central.store import SqliteStore
from central.store.sqlite.migrations import MIGRATIONS


def test_a_store_of_schema_1_keeps_its_streams_and_events(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0].statements:
        db.execute(statement)
    db.execute(
        "INSERT INTO streams (site, applied_seq, max_received_seq, deposits) VALUES "
        "('L0001', 2, 3, 2)"
    )
    for seq, applied in ((1, 1.0), (2, 1.0), (3, None)):
        db.execute(
            "INSERT INTO events VALUES ('L0001', ?, ?, 'parcel_deposited', 1, '{}', 1, ?)",
            (seq, f"id-{seq}", applied),
        )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = SqliteStore(path)
    with store.transaction() as session:
        stream = session.stream("L0001")
        assert (stream.epoch, stream.applied_seq, stream.deposits) == ("", 2, 2)
        assert stream.id is not None
        assert [e.seq for e in session.waiting_events(stream.id, 2)] == [3]
        assert session.known_event_ids("L0001", ["id-1", "id-9"]) == {"id-1"}
