"""The stores the contract runs over: a fresh, empty one of each kind for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.store.base import CentralStore
from tests.central.store_contract.stores import open_location

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


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
