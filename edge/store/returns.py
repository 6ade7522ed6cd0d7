"""The site's record of consumers' return labels: which slot each opened, and which went in.

A return label is checked offline and may be used once: its id (the label's nonce) is kept
here from the scan that opened a door; the door shutting on the parcel marks it dropped (used
for good), shutting on nothing forgets it, so the consumer may scan it again.
"""

from __future__ import annotations

import sqlite3

from edge.site.records import ReturnDrop

# The edge schema's step that adds the table (edge.store.schema.SCHEMA).
RETURN_DROPS_SCHEMA = """
    CREATE TABLE return_drops (
        label_id TEXT PRIMARY KEY,
        return_id TEXT NOT NULL,
        label TEXT NOT NULL,
        slot TEXT NOT NULL,
        opened_at REAL NOT NULL,
        dropped_at REAL
    );
"""


class ReturnDrops:
    """Transaction's reads and writes of return labels (mixed into
    edge.store.sqlite.Transaction, inside its transaction)."""

    _db: sqlite3.Connection

    def return_drop(self, label_id: str) -> ReturnDrop | None:
        row = self._db.execute(
            "SELECT label_id, return_id, label, slot, dropped_at FROM return_drops"
            " WHERE label_id = ?",
            (label_id,),
        ).fetchone()
        if row is None:
            return None
        return ReturnDrop(row[0], row[1], row[2], row[3], row[4])

    def open_return(self, label_id: str, return_id: str, label: str, slot: str, now: float) -> None:
        """Remember that `label_id` opened `slot` (replacing a door that shut on nothing)."""
        self._db.execute(
            "INSERT OR REPLACE INTO return_drops"
            " (label_id, return_id, label, slot, opened_at, dropped_at)"
            " VALUES (?, ?, ?, ?, ?, NULL)",
            (label_id, return_id, label, slot, now),
        )

    def drop_return(self, label_id: str, now: float) -> None:
        self._db.execute(
            "UPDATE return_drops SET dropped_at = ? WHERE label_id = ?", (now, label_id)
        )

    def forget_return(self, label_id: str) -> None:
        self._db.execute(
            "DELETE FROM return_drops WHERE label_id = ? AND dropped_at IS NULL", (label_id,)
        )
