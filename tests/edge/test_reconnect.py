"""The site's reconnect loop: bounded error lines that name the broker, and a cap on the wait
that brings a site back soon after its link returns."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import edge.uplink.mqtt
from central.broker import PrivateBroker
from central.broker.launcher import free_port
from edge.config import BrokerConfig, TimingConfig
from edge.store.sqlite import Store
from edge.uplink.mqtt import SiteLink
from edge.uplink.reconnect import MAX_REASON_CHARS
from protocols.backoff import RECONNECT, backoff_s
from protocols.clock import Clock, ScaledClock, SystemClock
from protocols.messages import SiteKind, StateSnapshot
from protocols.topics import Topics
from tests.eventually import eventually_async

SITE = "L0001"
RECONNECT_MIN_S, RECONNECT_MAX_S = RECONNECT.min_s, RECONNECT.max_s


class WorstCase(random.Random):
    """Jitter that always draws the longest wait: the bound a test can rely on."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _link(
    tmp: Path, host: str, port: int, topics: Topics, clock: Clock, **kwargs: object
) -> SiteLink:
    store = Store(tmp / "site.sqlite", SITE, durable=False)

    def snapshot() -> StateSnapshot:
        return StateSnapshot(
            site=SITE, kind=SiteKind.LOCKER, boot_id="boot", at=clock.now(), last_seq=0
        )

    async def on_command(_payload: bytes) -> None:
        return None

    return SiteLink(
        site=SITE,
        boot_id="boot",
        broker=BrokerConfig(host=host, port=port, topic_root=topics.root),
        store=store,
        clock=clock,
        snapshot=snapshot,
        on_command=on_command,
        **kwargs,  # type: ignore[arg-type]
    )


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A broker that accepts TCP and never answers (a hung Mosquitto, a half-open proxy)."""
    await reader.read()  # until the site gives up and closes
    writer.close()


async def _hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A proxy that accepts and drops the connection before any CONNACK."""
    writer.close()


Server = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.mark.parametrize("server", [_silent, _hangs_up], ids=["never_answers", "hangs_up"])
def test_reconnect_error_lines_stay_the_same_length_and_name_the_broker(
    tmp_path, topics, caplog, monkeypatch, server: Server
) -> None:
    # A connect attempt gives up after this long (10 s in the field; shortened here).
    monkeypatch.setattr(edge.uplink.mqtt, "CONNECT_TIMEOUT_S", 0.3)
    caplog.set_level(logging.INFO, logger="edge.uplink.mqtt")
    attempts = 6

    async def scenario() -> None:
        listener = await asyncio.start_server(server, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        link = _link(
            tmp_path,
            "127.0.0.1",
            port,
            topics,
            SystemClock(),
            reconnect_min_s=0.01,
            reconnect_max_s=0.02,
        )
        task = asyncio.ensure_future(link.run())
        try:
            await eventually_async(
                lambda: len(_lines(caplog)) >= attempts, 20, f"{attempts} reconnect attempts"
            )
            assert not link.connected
            assert f"127.0.0.1:{port}" in (link.stats.last_error or "")
            assert len(link.stats.last_error or "") < MAX_REASON_CHARS + 40
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            link.store.close()
            listener.close()
            await listener.wait_closed()
        lines = _lines(caplog)[:attempts]
        assert all(f"127.0.0.1:{port}" in line for line in lines), lines
        assert len({len(line) for line in lines}) == 1, lines
        assert not any("ConnectionError: ConnectionError" in line for line in lines), lines

    asyncio.run(scenario())


def test_a_refused_port_gives_one_bounded_line_per_attempt(tmp_path, topics, caplog) -> None:
    """Another member: nothing listens at all (connection refused, an OSError each time)."""
    caplog.set_level(logging.INFO, logger="edge.uplink.mqtt")
    port = free_port()

    async def scenario() -> None:
        link = _link(
            tmp_path,
            "127.0.0.1",
            port,
            topics,
            SystemClock(),
            reconnect_min_s=0.01,
            reconnect_max_s=0.02,
        )
        task = asyncio.ensure_future(link.run())
        try:
            await eventually_async(lambda: len(_lines(caplog)) >= 5, 20, "5 attempts")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            link.store.close()

    asyncio.run(scenario())
    lines = _lines(caplog)[:5]
    assert len({len(line) for line in lines}) == 1, lines
    assert all(f"127.0.0.1:{port}" in line for line in lines), lines


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]


def test_the_wait_never_exceeds_the_cap_and_the_cap_is_the_reasoned_one() -> None:
    rng = random.Random(7)
    waits = [backoff_s(n, RECONNECT_MIN_S, RECONNECT_MAX_S, rng) for n in range(1, 2000)]
    assert max(waits) <= RECONNECT_MAX_S
    assert min(waits) >= RECONNECT_MIN_S
    # Full jitter: long-failing sites spread over the whole window, not bunched at the cap.
    late = waits[100:]
    assert min(late) < RECONNECT_MAX_S / 4 and max(late) > RECONNECT_MAX_S * 3 / 4
    assert TimingConfig().reconnect_max_s == RECONNECT_MAX_S <= 30


def test_a_site_whose_link_returns_reconnects_within_the_cap(
    tmp_path, own_broker: PrivateBroker, topics, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="edge.uplink.mqtt")
    # 100x: the 30 s cap is 0.3 s of real time; the jitter always draws the longest wait.
    clock = ScaledClock(100)

    async def scenario() -> None:
        link = _link(tmp_path, own_broker.host, own_broker.port, topics, clock, rng=WorstCase())
        task = asyncio.ensure_future(link.run())
        try:
            await eventually_async(lambda: link.connected, 10, "first connect")
            own_broker.stop()
            # Long enough down that the wait has grown to the cap (1, 2, 4, 8, 16, 30, 30 s).
            await eventually_async(lambda: not link.connected, 10, "the loss")
            # Said as a loss with the broker's host:port (not a refusal, not "unreachable").
            where = f"{own_broker.host}:{own_broker.port}"
            lost = f"site L0001: connection to broker {where} lost: "
            await eventually_async(
                lambda: any(lost in r.getMessage() for r in caplog.records), 10, "the loss said"
            )
            down_at = clock.monotonic()
            await asyncio.sleep(3 * RECONNECT_MAX_S / clock.factor + 0.5)
            assert not link.connected
            assert clock.monotonic() - down_at > 61  # past 1+2+4+8+16+30: at the cap
            own_broker.start()
            back_at = time.monotonic()
            await eventually_async(lambda: link.connected, 10, "reconnect")
            waited = (time.monotonic() - back_at) * clock.factor
            # The cap, plus a connect's own real time (well under 50 ms here, x100).
            assert waited <= RECONNECT_MAX_S + 5, f"reconnected {waited:.1f} s after the link"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            link.store.close()

    asyncio.run(scenario())
