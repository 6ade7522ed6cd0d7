"""The console's live updates: only what changed is sent, open pages share their reads, and
open pages do not hold up a server that stops."""

from __future__ import annotations

import re
import threading
import time

import httpx

from central.web.app import create_app
from central.web.auth import Role
from central.web.console.live import RecentReads, changes, close_streams, event
from central.web.context import WebContext
from central.web.serve import ApiServer
from tests.eventually import eventually
from tests.web.browser import free_port
from tests.web.conftest import LOGINS


def test_an_update_carries_only_the_sites_and_slots_that_changed() -> None:
    before = {
        "sites": {"L0001": "online", "L0002": "full"},
        "alarms": 0,
        "slots": {"A01": ["free", "A01 (S): free"], "A02": ["occupied", "A02 (S): occupied"]},
    }
    now = {
        "sites": {"L0001": "online", "L0002": "alarms"},
        "alarms": 1,
        "slots": {"A01": ["open", "A01 (S): open"], "A02": ["occupied", "A02 (S): occupied"]},
    }
    assert changes(before, now) == {
        "sites": {"L0002": "alarms"},
        "alarms": 1,
        "slots": {"A01": ["open", "A01 (S): open"]},
    }
    assert changes(now, now) == {}
    # A connection's first event carries everything.
    assert changes({}, now) == now
    assert event({"alarms": 1}) == 'data: {"alarms":1}\n\n'


def test_pages_open_at_once_share_one_read_of_the_store() -> None:
    recent = RecentReads(max_age_s=60.0)
    reads: list[int] = []
    gate = threading.Event()

    def read() -> dict[str, object]:
        gate.wait(5)
        reads.append(1)
        return {"alarms": len(reads)}

    results: list[dict[str, object]] = []
    pages = [
        threading.Thread(target=lambda: results.append(recent.get(("store", None), read)))
        for _ in range(5)
    ]
    for each in pages:
        each.start()
    gate.set()
    for each in pages:
        each.join(10)
    assert results == [{"alarms": 1}] * 5
    assert len(reads) == 1
    # Another site's page reads for itself.
    assert recent.get(("store", "L0001"), read) == {"alarms": 2}


def test_a_server_stops_at_once_though_pages_watch_it_live(web_ctx: WebContext) -> None:
    app = create_app(web_ctx)
    port = free_port()
    server = ApiServer(app, f"127.0.0.1:{port}")
    server.start()
    events: list[str] = []
    ended = threading.Event()
    web = httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True)
    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/console/login").text)
    assert token is not None
    name, password = LOGINS[Role.VIEWER]
    web.post("/console/login", data={"name": name, "password": password, "csrf": token[1]})

    def watch() -> None:
        # A browser's EventSource has no read timeout: neither has this.
        with web.stream("GET", "/console/events", timeout=None) as stream:
            events.extend(line for line in stream.iter_lines() if line.startswith("data: "))
        ended.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    eventually(lambda: events, 10, "the first live event")
    close_streams(app)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3.0  # not uvicorn's wait for open responses
    assert ended.wait(5), "the live stream did not end"
    web.close()
