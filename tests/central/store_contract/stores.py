"""How a contract test, a racing thread or a spawned process opens the store under test."""

from __future__ import annotations

from pathlib import Path

from central.service.config import StoreConfig
from central.store.base import CentralStore
from central.store.open import open_store


def open_location(location: str) -> CentralStore:
    """The store at `location`: a postgresql:// url, else a SQLite file's path. A spawned
    process gets only this string, and opens its own store from it."""
    if location.startswith("postgresql://"):
        return open_store(StoreConfig(url=location))
    return open_store(StoreConfig(path=Path(location)))
