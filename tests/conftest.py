"""Shared fixtures: a private Mosquitto with the project's configuration, unique topic roots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from protocols.topics import Topics


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
