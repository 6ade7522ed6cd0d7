"""Shared fixtures: a private Mosquitto with the project's configuration, unique topic roots,
a private PostgreSQL server with a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from protocols.topics import Topics
from tests.postgres import PrivatePostgres, find_postgres_bin


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """One private broker for the session (not the system one on 1883).

    Tests that stop or restart the broker use `own_broker` instead, so they never disturb
    the others.
    """
    with PrivateBroker(tmp_path_factory.mktemp("broker")) as instance:
        yield instance


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A broker for this test alone, free to be stopped and restarted."""
    with PrivateBroker(tmp_path / "broker") as instance:
        yield instance


@pytest.fixture
def topics() -> Topics:
    """A topic root unique to this test, so tests sharing a broker never see each other."""
    return Topics(root=f"lockernet-test/{uuid.uuid4().hex[:12]}/v1")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL server for the session (never the system one on 5432).

    Skipped only when no PostgreSQL server binaries exist at all; .ci/setup installs them,
    so CI never skips.
    """
    if find_postgres_bin() is None:
        pytest.skip(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin or pg_ctl on PATH): "
            "bash .ci/setup installs them"
        )
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PrivatePostgres) -> Iterator[str]:
    """The url of a fresh, empty database for this test alone; dropped afterwards."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)
