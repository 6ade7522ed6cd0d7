"""What every aggregate's queries share: the session's connection, and column helpers."""

from __future__ import annotations

import sqlite3
from typing import Any


class Queries:
    """Base of the aggregates' query classes: all run on the one connection of a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn


def optional_bool(value: Any) -> bool | None:
    """An INTEGER column holding a flag that may be unknown (NULL)."""
    return None if value is None else bool(value)
