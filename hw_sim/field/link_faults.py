"""A site's link to a broker that accepts TCP and never answers (a hung Mosquitto, a proxy
or load balancer whose backend is gone), then to the real broker again.

What must hold (issue 11, kind 11): each failed attempt logs one line of a length that does
not depend on how many attempts came before, naming the broker's host:port; and once the
real broker is reachable again the site is back within its reconnect cap (plus a connect
timeout for an attempt at the silent broker under way, and one for the real connect).

The simulator's day plays it with `await behind_silent_broker(site.agent.link, seconds=...)`
and checks the returned `SilentSpell` (`ok()`), or lists `problems()` in its verdict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from edge.uplink import mqtt
from edge.uplink.mqtt import SiteLink

# Attempts the spell waits for at least, so the lines compared are several (the field's
# fault grew by one "ConnectionError: " per attempt).
MIN_ATTEMPTS = 3


class SilentBroker:
    """A TCP listener on 127.0.0.1 (a free port) that accepts and never says a word."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.accepted = 0
        self.host = "127.0.0.1"
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            await reader.read()  # until the site gives up and closes
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass
class SilentSpell:
    """What one spell behind the silent broker showed."""

    where: str  # the silent broker's host:port
    lines: list[str] = field(default_factory=list)  # the site's error lines, in order
    back_after_s: float | None = None  # site clock seconds from the real broker to connected
    bound_s: float = 0.0  # what back_after_s may be: the cap plus two connect timeouts

    def problems(self) -> list[str]:
        found = []
        if len({len(line) for line in self.lines}) > 1:
            found.append(f"error lines grew: lengths {[len(line) for line in self.lines]}")
        if any(self.where not in line for line in self.lines):
            found.append(f"an error line does not name {self.where}")
        if self.back_after_s is None:
            found.append("the site did not reconnect to the real broker")
        elif self.back_after_s > self.bound_s:
            found.append(f"back after {self.back_after_s:.1f} s, past {self.bound_s:.1f} s")
        return found

    def ok(self) -> bool:
        return not self.problems()


class _Lines(logging.Handler):
    def __init__(self, site: str) -> None:
        super().__init__(logging.INFO)
        self.site = site
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "unreachable" in text and f"site {self.site}:" in text:
            self.lines.append(text)


async def behind_silent_broker(
    link: SiteLink, seconds: float, reconnect_timeout_s: float = 300.0
) -> SilentSpell:
    """Point `link` at a silent broker for `seconds` of the site's clock (at least
    MIN_ATTEMPTS attempts), then back at its own broker, and measure the return."""
    real = link.broker
    silent = SilentBroker()
    await silent.start()
    spell = SilentSpell(where=f"{silent.host}:{silent.port}")
    # The cap, plus the silent attempt under way at the switch and the real connect itself.
    spell.bound_s = link.reconnect_max_s + 2 * mqtt.CONNECT_TIMEOUT_S * _factor(link)
    handler = _Lines(link.site)
    logger = logging.getLogger(mqtt.__name__)
    previous_level = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        link.broker = real.model_copy(update={"host": silent.host, "port": silent.port})
        link.take_down()  # drop the live connection: the next attempt goes to the silent one
        link.bring_up()
        until = link.clock.monotonic() + seconds
        while link.clock.monotonic() < until or len(handler.lines) < MIN_ATTEMPTS:
            await link.clock.sleep(min(1.0, seconds))
        spell.lines = list(handler.lines)  # the attempts at the silent broker
        link.broker = real
        back_from = link.clock.monotonic()
        deadline = time.monotonic() + reconnect_timeout_s
        while not link.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if link.connected:
            spell.back_after_s = link.clock.monotonic() - back_from
    finally:
        link.broker = real
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        await silent.stop()
    return spell


def _factor(link: SiteLink) -> float:
    # The connect timeout is real seconds; on a sped-up clock it is that many times longer.
    return float(getattr(link.clock, "factor", 1.0))
