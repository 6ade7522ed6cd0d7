"""Serving the app for real: `lockernet central run` with `[api] listen` serves it over HTTP
in a thread, and a remote open made there reaches a site as a signed command; a port in
use is one clear error."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from central.broker import PrivateBroker
from central.broker.launcher import free_port
from central.errors import ConfigError
from central.service.service import CentralService
from central.store.open import open_reader, open_store, store_location
from central.web.auth import Role
from central.web.serve import ApiServer, bind
from protocols.messages import Command, Reply, SizeClass, SlotState
from protocols.topics import Topics
from tests.central.central_rig import Site, central_config, snapshot

# The central fixtures (a running service, sites played by MQTT clients), shared with
# tests/central.
from tests.central.conftest import (  # noqa: F401
    clock,
    config,
    make_site,
    network,
    signer,
    start_central,
)
from tests.eventually import eventually
from tests.web.conftest import LOGINS, add_logins


def diagnostics_reply(command: Command) -> Reply | None:
    if command.body.type != "run_diagnostics":
        return None
    return Reply(site=command.site, command_id=command.id, at=0.0, ok=True, result={"boards": 2})


def test_central_serves_the_api_and_a_remote_open_reaches_the_site(
    tmp_path: Path,
    broker: PrivateBroker,
    topics: Topics,
    start_central: Callable[..., CentralService],  # noqa: F811
    make_site: Callable[..., Site],  # noqa: F811
) -> None:
    port = free_port()
    cfg = central_config(
        tmp_path,
        broker,
        topics,
        api={"listen": f"127.0.0.1:{port}", "session_secret_file": str(tmp_path / "s.key")},
    )
    store = open_store(cfg.store)
    add_logins(store)
    store.close()
    service = start_central(cfg)
    site = make_site("L0001", auto_reply=diagnostics_reply)
    site.state(snapshot("L0001", [("A", SizeClass.S, SlotState.FREE, None)]))

    def slot_known() -> bool:
        with open_reader(store_location(cfg.store)) as reader:
            return reader.view.get_slot("L0001", "A") is not None

    eventually(slot_known, what="central to have L0001's slots from its snapshot")
    name, password = LOGINS[Role.TECHNICIAN]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        assert http.post("/api/login", json={"name": name, "password": password}).is_success
        listed = http.get("/api/sites?kind=locker").json()
        assert [s["id"] for s in listed["sites"]] == ["L0001", "L0002"]
        opened = http.post("/api/sites/L0001/slots/A/open", json={"reason": "test open"})
        assert opened.status_code == 200, opened.text
        command = eventually(
            lambda: site.commands_of("open_slot"), what="the signed open_slot at the site"
        )[0]
        assert (command.body.slot, command.body.reason) == ("A", "test open")  # type: ignore[union-attr]
        assert site.refused == []  # verified with central's key
        # Diagnostics ask the site through the service's own MQTT session.
        report = http.get("/api/sites/L0001/diagnostics")
        assert report.status_code == 200, report.text
        assert report.json()["report"] == {"boards": 2}
    service.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/track/x", timeout=5)


def test_a_port_in_use_is_one_error_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            ApiServer(object(), f"127.0.0.1:{port}")
    assert str(raised.value) == (
        f"api.listen 127.0.0.1:{port} is already in use (another central or program serves "
        "there): choose another port"
    )
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        bind("127.0.0.1:http")
