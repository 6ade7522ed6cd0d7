"""`lockernet edge run`: one agent on a device, as systemd runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from edge.agent import SiteAgent
from edge.config import SiteConfig
from edge.drivers.links import serial_opener
from edge.errors import ConfigError
from edge.host import control, systemd
from protocols.clock import SystemClock
from protocols.tokens import TokenVerifier

if TYPE_CHECKING:
    from edge.host.metrics import MetricsEndpoint

log = logging.getLogger(__name__)


# The [broker] keys that name a file the agent reads when it connects.
BROKER_FILE_KEYS = ("ca_file", "cert_file", "key_file")


def check_files(config: SiteConfig) -> None:
    """ConfigError naming the first broker file (`broker.ca_file`, ...) that does not exist,
    is not a file or cannot be read, with its path and the broker's host:port: said at start,
    before the agent runs, rather than as "No such file or directory" at every reconnect."""
    broker = config.broker
    for key in BROKER_FILE_KEYS:
        path = getattr(broker, key)
        if path is None:
            continue
        path = Path(path)
        if not path.exists():
            problem = "does not exist"
        elif not path.is_file():
            problem = "is not a file"
        elif not os.access(path, os.R_OK):
            problem = "cannot be read by this user (permission denied)"
        else:
            continue
        raise ConfigError(
            f"broker.{key}: {path} {problem} (broker at {broker.host}:{broker.port}); "
            "the agent did not start"
        )


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
    """Serve one site until SIGTERM/SIGINT.

    Raises SiteOwned (an EdgeError: `lockernet edge run` exits 2) at once, before any port,
    the store or the broker is touched, when another agent runs this site; ConfigError the
    same way for a broker TLS file that is missing (check_files), and for a metrics.listen
    that cannot be served.
    """
    check_files(config)
    agent = build_agent(config)  # its store takes the site's lock first (edge/host/ownership.py)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    path = control.socket_path(config.state_dir, config.site_id)
    server: asyncio.AbstractServer | None = None
    watchdog: asyncio.Future[None] | None = None
    metrics: MetricsEndpoint | None = None
    if config.metrics.listen:
        # Imported only when asked for: prometheus_client and its HTTP server are ~1.7 MiB
        # resident that an agent without [metrics] never uses (docs/edge.md, Footprint).
        from edge.host.metrics import MetricsEndpoint

        metrics = MetricsEndpoint(agent, config.metrics)
    try:
        await agent.start()
        if metrics is not None:
            metrics.start()
        server = await control.serve(agent, path)
        systemd.notify("READY=1")
        log.info("site %s serving", config.site_id)
        watchdog = asyncio.ensure_future(_watchdog(agent))
        await stopping.wait()
    finally:
        systemd.notify("STOPPING=1")
        if watchdog is not None:
            watchdog.cancel()
        if metrics is not None:
            await metrics.stop()
        if server is not None:
            server.close()
            # Ours to remove: we hold the site's lock, and no other agent could have bound it.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        await agent.stop(graceful=True)


def watchdog_withheld(agent: SiteAgent) -> str | None:
    """Why the watchdog must not be fed now (None: feed it): a supervised task is down
    (dead, waiting for its restart) or the store does not answer a read."""
    down = agent.tasks.down()
    if down:
        return f"tasks down: {', '.join(down)}"
    try:
        agent.store.pending_count()
    except sqlite3.Error as exc:
        return f"the store does not answer: {exc}"
    return None


async def _watchdog(agent: SiteAgent, interval: float | None = None) -> None:
    """Feed systemd's watchdog every `interval` s (half of WatchdogSec) while the agent is
    whole. This runs on the agent's loop, so a blocked loop feeds nothing either: systemd
    then restarts a hung or broken agent."""
    interval = interval or systemd.watchdog_interval_s()
    if interval is None:
        return
    while True:
        withheld = watchdog_withheld(agent)
        if withheld is None:
            systemd.notify("WATCHDOG=1")
        else:
            log.error("site %s: watchdog not fed: %s", agent.site, withheld)
        await asyncio.sleep(interval)
