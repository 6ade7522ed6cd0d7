"""The console's browser fixtures: central's HTTP app on a real SQLite store, served by
uvicorn on a free port, and Debian's headless Chromium driven by Playwright.

One store, one server and one browser per test module (a browser takes a second or two to
start on a loaded machine); each test gets a fresh browser context, so its own cookies and
its own login. Screenshots go in the test's own temporary folder, and their paths are
printed (pytest -s shows them; `--basetemp DIR` keeps them in DIR).
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from central.parcels.steps import announce
from central.service.config import CentralConfig, parse_config
from central.sites import registry
from central.sites.network import save_network
from central.store import CentralStore
from central.store.open import open_store
from central.store.queries.users import UserRecord
from central.web.app import create_app
from central.web.auth import Role, hash_password
from central.web.serve import ApiServer, web_context
from protocols.clock import SystemClock
from protocols.messages import SizeClass, SlotState
from protocols.tokens import TokenSigner
from tests.central.central_rig import announcement, label, small_network, snapshot

# Debian's package puts its launcher here (.ci/setup installs it when missing).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Milliseconds a Playwright wait allows: generous, for two shared cores.
WAIT_MS = 10_000

# Logins made for the tests, one per role: name -> (role, password).
LOGINS: dict[str, tuple[Role, str]] = {
    "olga": (Role.OPERATOR, "olga-operator-pw"),
    "tom": (Role.TECHNICIAN, "tom-technician-pw"),
    "vera": (Role.VIEWER, "vera-viewer-pw"),
}


@dataclass
class Console:
    """A served console: its base url, the store behind it, and the seeded facts."""

    url: str
    store: CentralStore
    config: CentralConfig
    parcel: str  # an announced parcel, deposited in L0001's A02

    def login(self, page: Page, name: str) -> None:
        """Log `name` in through the login form; returns on the map."""
        page.goto(f"{self.url}/console/login")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", LOGINS[name][1])
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}/console/", timeout=WAIT_MS)


def free_port() -> int:
    """A TCP port nobody listens on now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(store: CentralStore, now: float) -> str:
    """small_network's sites: L0001 online with two banks (A01-A03, B01-B02), a parcel in
    A02, three refused scans; L0002 online and full (every slot occupied); C0001 never
    heard from. The three logins. Returns the parcel's label."""
    parcel = label(1)
    with store.transaction() as session:
        registry.load_network(session, small_network())
        announce(session, announcement(1), now)
        registry.apply_snapshot(
            session,
            snapshot(
                "L0001",
                [
                    ("A01", SizeClass.S, SlotState.FREE, None),
                    ("A02", SizeClass.S, SlotState.OCCUPIED, parcel),
                    ("A03", SizeClass.M, SlotState.FREE, None),
                    ("B01", SizeClass.M, SlotState.FREE, None),
                    ("B02", SizeClass.L, SlotState.FREE, None),
                ],
                at=now,
            ),
            now,
        )
        registry.apply_snapshot(
            session,
            snapshot(
                "L0002",
                [(f"A0{i}", SizeClass.M, SlotState.OCCUPIED, label(10 + i)) for i in (1, 2, 3)],
                at=now,
            ),
            now,
        )
        for site in ("L0001", "L0002"):
            record = session.get_site(site)
            assert record is not None
            session.save_site(dataclasses.replace(record, online=True, status_at=now))
        # Two bad codes and an unknown badge scanned at L0001.
        for detail in ("code expired", "code expired"):
            session.count_refusal("L0001", "bad_code", now, detail)
        session.count_refusal("L0001", "unknown_badge", now, None)
        for name, (role, password) in LOGINS.items():
            session.add_user(UserRecord(name, role.value, hash_password(password), now))
    return parcel


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console served over HTTP on a free port, on a seeded SQLite store."""
    folder = tmp_path_factory.mktemp("console")
    port = free_port()
    save_network(small_network(), folder / "network.json")  # the couriers badges are for
    config = parse_config(
        {
            "network": {"file": str(folder / "network.json")},
            "store": {"path": str(folder / "central.sqlite")},
            "keys": {"signing_key": str(folder / "central-key.pem")},
            "api": {
                "listen": f"127.0.0.1:{port}",
                "session_secret_file": str(folder / "session.key"),
            },
        },
        "console test config",
        environ={},
    )
    store = open_store(config.store)
    parcel = seed(store, time.time())
    ctx = web_context(config, store, TokenSigner.generate(), SystemClock(), None)
    server = ApiServer(create_app(ctx), f"127.0.0.1:{port}")
    server.start()
    try:
        yield Console(f"http://127.0.0.1:{port}", store, config, parcel)
    finally:
        server.stop()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; the module is skipped, saying why, if it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: bash .ci/setup installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and a page in it; closed after the test, which
    ends its live-update stream."""
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot as a test artefact; prints where it went."""

    def take(page: Page, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return take
