"""Fixtures for central's HTTP app: a store on a real SQLite file holding a small registered
network, the app over it, and one login per role.

    web_store        small_network's sites; L0001 reports slots A (holding parcel 1, picked
                     up by nobody yet), B-D free, E out of service; L0002 F-H free and is
                     offline; parcel 1 deposited at L0001/A, parcels 2-5 announced
    web_ctx, web_app the app's context (no link to sites: request_command None) and app
    logins           {role: (name, password)}, each added to the store
    client(role)     a TestClient signed in as that role (None: nobody signed in)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from central.parcels.lifecycle import ParcelStep
from central.parcels.steps import announce, take_step
from central.service.config import CentralConfig, parse_config
from central.sites import registry
from central.sites.network import save_network
from central.store import CentralStore
from central.store.open import open_store, store_location
from central.store.queries.users import UserRecord
from central.web.app import create_app
from central.web.auth import Role, hash_password
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.messages import SiteStatus, SizeClass, SlotState
from protocols.tokens import TokenSigner
from tests.central.central_rig import announcement, label, small_network, snapshot

T0 = 1_800_000_000.0
PARCEL = label(1)  # deposited at L0001, slot A
CONTACT = ("Tan Wei Ling", "+65 9123 4567", "wei.ling@example.sg")  # central_rig.announcement's
LOGINS: dict[Role, tuple[str, str]] = {
    Role.OPERATOR: ("olivia", "operator-password-1"),
    Role.TECHNICIAN: ("tarik", "technician-password-1"),
    Role.VIEWER: ("vera", "viewer-password-1"),
}


def web_config(tmp_path: Path, **sections: dict[str, object]) -> CentralConfig:
    """A central config whose store, session key and network file (small_network: the
    couriers a badge may be issued to) live in `tmp_path`."""
    save_network(small_network(), tmp_path / "network.json")
    data: dict[str, dict[str, object]] = {
        "network": {"file": str(tmp_path / "network.json")},
        "store": {"path": str(tmp_path / "central.sqlite")},
        "keys": {"signing_key": str(tmp_path / "central-key.pem")},
        "api": {"session_secret_file": str(tmp_path / "session.key")},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_config(data, "test config", environ={})


def stock_web_store(store: CentralStore, now: float = T0) -> None:
    """The network, slots and parcels the web tests start from (see the module's doc)."""
    with store.transaction() as session:
        registry.load_network(session, small_network())
        registry.apply_snapshot(
            session,
            snapshot(
                "L0001",
                [
                    ("A", SizeClass.S, SlotState.OCCUPIED, PARCEL),
                    ("B", SizeClass.S, SlotState.FREE, None),
                    ("C", SizeClass.M, SlotState.FREE, None),
                    ("D", SizeClass.M, SlotState.FREE, None),
                    ("E", SizeClass.L, SlotState.OUT_OF_SERVICE, None),
                ],
                at=now,
            ),
            now,
        )
        registry.apply_snapshot(
            session,
            snapshot("L0002", [(s, SizeClass.M, SlotState.FREE, None) for s in "FGH"], at=now),
            now,
        )
        for site, online in (("L0001", True), ("L0002", False)):
            status = SiteStatus(site=site, online=online, boot_id="boot1", at=now)
            registry.apply_status(session, status, now, "test")
        for n in range(1, 6):
            announce(session, announcement(n), now)
        parcel = session.get_parcel(PARCEL)
        assert parcel is not None
        for step, at, changes in (
            (ParcelStep.ASSIGN, now + 60, {"site": "L0001", "courier": "K1", "partner": "post"}),
            (ParcelStep.HAND_TO_COURIER, now + 3600, {}),
            (
                ParcelStep.DEPOSIT,
                now + 7200,
                {"slot": "A", "pickup_expires_at": now + 7200 + 3 * 86400},
            ),
            (ParcelStep.NOTIFY, now + 7260, {}),
        ):
            parcel = take_step(
                session, parcel, step, at=at, source="site L0001 seq 1", now=at, **changes
            )
        assert dataclasses.replace(parcel).state == "ready_for_pickup"


def add_logins(store: CentralStore, now: float = T0) -> None:
    with store.transaction() as session:
        for role, (name, password) in LOGINS.items():
            session.add_user(UserRecord(name, role.value, hash_password(password), now))


@pytest.fixture
def web_store(tmp_path: Path) -> Iterator[CentralStore]:
    store = open_store(web_config(tmp_path).store)
    stock_web_store(store)
    add_logins(store)
    yield store
    store.close()


@pytest.fixture
def web_clock() -> ManualClock:
    return ManualClock(start=T0 + 8000)


@pytest.fixture
def web_ctx(tmp_path: Path, web_store: CentralStore, web_clock: ManualClock) -> WebContext:
    config = web_config(tmp_path)
    return WebContext(
        config=config,
        store=web_store,
        reader_location=store_location(config.store),
        signer=TokenSigner.generate(),
        clock=web_clock,
    )


@pytest.fixture
def web_app(web_ctx: WebContext) -> FastAPI:
    return create_app(web_ctx)


@pytest.fixture
def client(web_app: FastAPI) -> Iterator[Callable[[Role | None], TestClient]]:
    """client(role): a TestClient signed in as the role's login; client(None): anonymous."""
    opened: list[TestClient] = []

    def make(role: Role | None) -> TestClient:
        test_client = TestClient(web_app)
        opened.append(test_client)
        if role is not None:
            name, password = LOGINS[role]
            answer = test_client.post("/api/login", json={"name": name, "password": password})
            assert answer.status_code == 200, answer.text
        return test_client

    yield make
    for each in opened:
        each.close()
