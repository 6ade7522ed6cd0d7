"""The stores the contract runs over, and how a test (or a child process) opens one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.service.config import StoreConfig
from central.store.base import CentralStore
from central.store.open import open_store

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def open_location(location: str) -> CentralStore:
    """The store at `location`: a postgresql:// url, else a SQLite file's path. Importable
    by a spawned process, which gets only the location string."""
    if location.startswith("postgresql://"):
        return open_store(StoreConfig(url=location))
    return open_store(StoreConfig(path=Path(location)))


@pytest.fixture(params=STORES)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh, empty store of each kind lives (a file path or a database url)."""
    if request.param == "sqlite":
        return str(tmp_path / "central.sqlite")
    # Asked for only here, so the SQLite runs never start a PostgreSQL server.
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def any_store(store_location: str) -> Iterator[CentralStore]:
    """A fresh store of each kind, migrated; closed at the end."""
    store = open_location(store_location)
    yield store
    store.close()
