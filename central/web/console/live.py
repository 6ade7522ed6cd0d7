"""Live updates for the console: server-sent events (GET /console/events).

Each connection looks at the store through the read path about once a second (reads shared
by every connection of the process: `RecentReads`) and sends, as one JSON event, only what
changed since its last event: the state of every site that changed
(map colours), the counts by state, the number of open alarms, and, for the site a page
watches (?site=), its slots' colours, hover texts and service, its state and its open alarms. The
first event of a connection carries everything. A reader never waits for ingest (WAL or
MVCC snapshots), so a thousand open pages cost reads, not writers' time.

Server-sent events rather than websockets: the updates only flow one way, the browser's
EventSource reconnects by itself, and the response is plain HTTP a proxy passes through.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from central.operator.alarms import open_alarms
from central.operator.fleet import fleet
from central.store.open import open_reader
from central.store.read import StoreReader
from central.web.auth import current_user_or_none
from central.web.console.island import SiteState, site_state
from central.web.console.render import PREFIX, local_time
from central.web.console.slot_grid import slot_cells
from central.web.context import WebContext

# Seconds between two reads of a connection: what "live" means on the console.
LIVE_INTERVAL_S = 1.0
# Seconds without a change after which a comment line is sent anyway, so a proxy or the
# browser does not call an idle stream dead (many proxies cut at 30-60 s).
KEEPALIVE_S = 15.0
# What the browser waits before reconnecting a dropped stream (the SSE `retry` field), ms.
RECONNECT_MS = 3000
# Seconds between two checks that the stream's login is still allowed in: a login disabled
# with `lockernet users disable` stops seeing the network within this.
LOGIN_RECHECK_S = 60.0

Live = dict[str, Any]


class RecentReads:
    """The newest read of each kind (the network, or one site), shared by every connection
    of this process while it is younger than `max_age_s`: a hundred open pages cost one
    read a second, not a hundred (at the whole network's size, 2,100 sites, the network's
    read takes ~0.35 s of a core). One read runs at a time; a connection that wants the
    same kind meanwhile waits for it and takes its result."""

    # Reads of sites nobody watched for this long are forgotten.
    FORGET_AFTER_S = 60.0

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._reads: dict[tuple[str, str | None], tuple[float, Live]] = {}

    def get(self, key: tuple[str, str | None], read: Callable[[], Live]) -> Live:
        """The read of `key` if it is fresh enough, else `read()` (kept for the others)."""
        with self._lock:
            now = time.monotonic()
            held = self._reads.get(key)
            if held is not None and now - held[0] < self.max_age_s:
                return held[1]
            value = read()
            self._reads[key] = (time.monotonic(), value)
            for old in [k for k, (at, _) in self._reads.items() if now - at > self.FORGET_AFTER_S]:
                del self._reads[old]
            return value


_recent = RecentReads(max_age_s=LIVE_INTERVAL_S * 0.9)


def read_network(location: str) -> Live:
    """What every page shows live, from one snapshot of the store at `location`
    (central.store.open.open_reader): each site's state, the counts by state, the number
    of open alarms."""
    with open_reader(location) as reader:
        sites = fleet(reader.view).sites
    states = {s.site: site_state(s).value for s in sites}
    return {
        "sites": states,
        "counts": _counts(states),
        "alarms": sum(s.open_alarms for s in sites),
    }


def read_site(location: str, site: str) -> Live:
    """What a site page shows live, from one snapshot: its slots' colours and hover texts
    and its open alarms (nothing for a site central does not know)."""
    with open_reader(location) as reader:
        view = reader.view
        record = view.get_site(site)
        if record is None:
            return {}
        return {
            # The service switch's label follows the slot (disable / enable).
            "slots": {c.slot: [c.css, c.title, c.in_service] for c in slot_cells(view, record)},
            "site_alarms": [
                [a.id, a.kind, a.ref, local_time(a.opened_at), a.detail or ""]
                for a in open_alarms(view)
                if a.site == site
            ],
        }


def read_live(location: str, site: str | None) -> Live:
    """Everything a page may show live (of the site `site`, if given), from this process's
    recent reads (`RecentReads`) or fresh ones."""
    live = dict(_recent.get((location, None), lambda: read_network(location)))
    if site is not None:
        live.update(_recent.get((location, site), lambda: read_site(location, site)))
        if "slots" in live:
            live["site_state"] = live["sites"].get(site, SiteState.UNKNOWN.value)
    return live


def changes(before: Live, now: Live) -> Live:
    """What of `now` differs from `before`: for the per-site and per-slot maps only their
    changed entries; for the rest the whole value. Empty if nothing changed."""
    changed: Live = {}
    for key, value in now.items():
        old = before.get(key)
        if key in ("sites", "slots") and isinstance(old, dict):
            delta = {k: v for k, v in value.items() if old.get(k) != v}
            if delta:
                changed[key] = delta
        elif old != value:
            changed[key] = value
    return changed


def event(data: Live) -> str:
    """One server-sent event carrying `data` as compact JSON."""
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


def close_streams(app: FastAPI) -> None:
    """End every live stream `app` serves, at each one's next tick (within LIVE_INTERVAL_S).
    Call it before stopping the server: uvicorn lets open responses finish before it stops,
    and a live stream never finishes by itself."""
    app.state.console_streams_closing = True


def _closing(request: Request) -> bool:
    return bool(getattr(request.app.state, "console_streams_closing", False))


async def live_events(
    request: Request, location: str, site: str | None, interval_s: float = LIVE_INTERVAL_S
) -> AsyncIterator[str]:
    """The event stream of one connection, until the browser goes away."""
    yield f"retry: {RECONNECT_MS}\n\n"
    before: Live = {}
    quiet_since = checked_at = time.monotonic()
    while not _closing(request) and not await request.is_disconnected():
        if time.monotonic() - checked_at >= LOGIN_RECHECK_S:
            if await asyncio.to_thread(current_user_or_none, request) is None:
                return  # signed out or disabled: the page's next reconnect gets a 401
            checked_at = time.monotonic()
        try:
            # The reads block: in a worker thread, so the server's loop serves other pages.
            now = await asyncio.to_thread(read_live, location, site)
        except StoreReader.errors:
            now = None  # the store is busy or not there yet: try again at the next tick
        delta = changes(before, now) if now is not None else {}
        if delta:
            assert now is not None
            yield event(delta)
            before = now
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_S:
            yield ": still here\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(interval_s)


def add_routes(routes: APIRouter, ctx: WebContext) -> None:
    """GET /console/events[?site=SITE]: the live updates of the map and of a site page."""

    @routes.get(f"{PREFIX}/events", include_in_schema=False)
    async def events(request: Request, site: str | None = None) -> Response:
        # The login is read from the store: in a worker thread, as the reads below.
        if await asyncio.to_thread(current_user_or_none, request) is None:
            return PlainTextResponse("log in first", status_code=401)
        return StreamingResponse(
            live_events(request, ctx.reader_location, site),
            media_type="text/event-stream",
            # No proxy buffering or caching: each event must reach the page as it is sent.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _counts(states: dict[str, str]) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in SiteState), 0)
    for state in states.values():
        counts[state] += 1
    return counts
