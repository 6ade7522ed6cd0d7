"""Fixtures for central's tests: a signing key, a small network, a running central."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from central.broker import PrivateBroker
from central.service.config import CentralConfig
from central.service.service import CentralService
from central.sites.network import Network
from protocols.clock import ManualClock
from protocols.tokens import TokenSigner
from protocols.topics import Topics
from tests.central.central_rig import Site, central_config, small_network


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner.generate()


@pytest.fixture
def network() -> Network:
    return small_network()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def config(tmp_path: Path, broker: PrivateBroker, topics: Topics) -> CentralConfig:
    return central_config(tmp_path, broker, topics)


@pytest.fixture
def start_central(
    config: CentralConfig, signer: TokenSigner, network: Network, clock: ManualClock
) -> Iterator[Callable[..., CentralService]]:
    """Start central services in this process; every one is stopped at the end."""
    started: list[CentralService] = []

    def start(cfg: CentralConfig | None = None, **kwargs: Any) -> CentralService:
        kwargs.setdefault("signer", signer)
        kwargs.setdefault("network", network)
        kwargs.setdefault("clock", clock)
        service = CentralService(cfg or config, **kwargs)
        service.start()
        assert service.connected, "central did not connect to the test broker"
        started.append(service)
        return service

    yield start
    for service in started:
        if service._worker is not None and service._worker.is_alive():
            service.stop()


@pytest.fixture
def make_site(
    broker: PrivateBroker, topics: Topics, signer: TokenSigner, clock: ManualClock
) -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def make(site_id: str, **kwargs: Any) -> Site:
        kwargs.setdefault("verifier", signer.verifier())
        kwargs.setdefault("now", clock.now)
        site = Site(broker, topics, site_id, **kwargs).connect()
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()
