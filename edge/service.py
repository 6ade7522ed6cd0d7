"""`lockernet edge run`: one agent on a device, as systemd runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from edge import control, systemd
from edge.agent import SiteAgent
from edge.config import SiteConfig
from edge.drivers.links import serial_opener
from edge.errors import ConfigError
from protocols.clock import SystemClock
from protocols.tokens import TokenVerifier

log = logging.getLogger(__name__)


def load_verifier(path: Path) -> TokenVerifier:
    try:
        return TokenVerifier.from_pem(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"central_public_key: {path} does not exist") from None
    except ValueError as exc:
        raise ConfigError(f"central_public_key: {path} is not usable: {exc}") from None


def build_agent(config: SiteConfig) -> SiteAgent:
    bus, scanner = config.lock_bus, config.scanner
    return SiteAgent(
        config,
        clock=SystemClock(),
        verifier=load_verifier(config.central_public_key),
        lock_opener=serial_opener(bus.port, bus.baud_rate) if bus else None,
        scanner_opener=serial_opener(scanner.port, scanner.baud) if scanner else None,
    )


async def run(config: SiteConfig) -> None:
    agent = build_agent(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await agent.start()
    server = await control.serve(agent, control.socket_path(config.state_dir, config.site_id))
    systemd.notify("READY=1")
    log.info("site %s serving", config.site_id)
    watchdog = asyncio.ensure_future(_watchdog(agent))
    try:
        await stopping.wait()
    finally:
        systemd.notify("STOPPING=1")
        watchdog.cancel()
        server.close()
        await agent.stop(graceful=True)


async def _watchdog(agent: SiteAgent) -> None:
    interval = systemd.watchdog_interval_s()
    if interval is None:
        return
    while True:
        # Ping only while the agent's loop turns and its store answers: a hung agent is
        # restarted by systemd.
        agent.store.pending_count()
        systemd.notify("WATCHDOG=1")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(interval)
