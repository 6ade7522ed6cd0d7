"""The agent's Prometheus metrics, served on the device when site.toml has
`[metrics] listen = "127.0.0.1:9101"` (off by default).

    scans, unlocks, refusals   counted as they happen (one counter increment on the path)
    outbox depth, link, faults gauges brought up to date every `metrics.refresh_s` on the
                               agent's own loop (the store is read there, never per scan and
                               never from the HTTP thread: SQLite connections are per thread)
    serial errors              read at scrape time from the drivers' own counters

The registry is the agent's own (not prometheus_client's global one), so several agents in
one process (the simulator, the tests) never share one. The names are in docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.errors import ConfigError
from protocols.messages import FaultComponent, ScanRefusal

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from edge.agent import SiteAgent
    from edge.config import MetricsConfig

log = logging.getLogger(__name__)

PREFIX = "lockernet_site"


class AgentMetrics:
    """One agent's metrics, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.scans = Counter(
            f"{PREFIX}_scans",
            "Codes read by the scanner, by result: opened (a door), accepted (no door to open:"
            " a badge, a counter's parcel), refused, reread (the same scan again), failed.",
            ["result"],
            registry=r,
        )
        self.refusals = Counter(
            f"{PREFIX}_scan_refusals", "Refused scans, by reason.", ["reason"], registry=r
        )
        self.unlocks = Counter(
            f"{PREFIX}_unlocks",
            "Doors the agent unlocked (a scan or a remote open), by result: ok or failed.",
            ["result"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            f"{PREFIX}_outbox_depth",
            "Events written and not yet acknowledged by the broker.",
            registry=r,
        )
        self.link_up = Gauge(f"{PREFIX}_link_up", "1 while connected to the broker.", registry=r)
        self.faults = Gauge(
            f"{PREFIX}_faults", "Faults active now, by component.", ["component"], registry=r
        )
        # Every series exists from the start (at 0): a rate or an alert needs it there.
        for result in ("opened", "accepted", "refused", "reread", "failed"):
            self.scans.labels(result)
        for reason in ScanRefusal:
            self.refusals.labels(reason.value)
        for result in ("ok", "failed"):
            self.unlocks.labels(result)
        for component in FaultComponent:
            self.faults.labels(component.value)

    # ------------------------------------------------------------- called as things happen
    def scanned(self, result: str, refusal: ScanRefusal | None = None) -> None:
        """One scan dealt with (`result` as in the scans metric's help)."""
        self.scans.labels(result).inc()
        if refusal is not None:
            self.refusals.labels(refusal.value).inc()

    def unlocked(self, ok: bool) -> None:
        """One unlock tried: the board confirmed it (ok) or not."""
        self.unlocks.labels("ok" if ok else "failed").inc()

    # --------------------------------------------------------------------------- wiring
    def watch(self, agent: SiteAgent) -> None:
        """Count `agent`'s scans and unlocks, and read its drivers' serial error counters at
        each scrape."""
        agent.desk.on_scan = self.scanned
        agent.on_unlock = self.unlocked
        self.registry.register(SerialErrors(agent))

    def refresh(self, agent: SiteAgent) -> None:
        """Bring the gauges up to date (on the agent's loop: it reads the store)."""
        self.outbox_depth.set(agent.store.pending_count())
        self.link_up.set(1 if agent.link.connected else 0)
        active = {component.value: 0 for component in FaultComponent}
        for fault in list(agent.faults.values()):
            active[fault.component.value] += 1
        for component, count in active.items():
            self.faults.labels(component).set(count)


class SerialErrors(Collector):
    """lockernet_site_serial_errors_total{port, kind}, from the drivers' own counters (the
    technician's report shows the same numbers): bad_crc (frames that failed their check),
    timeout (a board that did not answer), framing (bytes skipped to find a frame on the
    lock bus; unreadable or over-long lines from the scanner), port (the port failed or
    went away)."""

    def __init__(self, agent: SiteAgent) -> None:
        self._agent = agent

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            f"{PREFIX}_serial_errors",
            "Serial line errors, by port and kind (bad_crc, timeout, framing, port).",
            labels=["port", "kind"],
        )

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        config = self._agent.config
        driver, scanner = self._agent.driver, self._agent.scanner
        if driver is not None and config.lock_bus is not None:
            bus: dict[str, Any] = driver.health()
            port = config.lock_bus.port
            family.add_metric([port, "bad_crc"], bus["bad_frames"])
            family.add_metric([port, "timeout"], bus["timeouts"])
            family.add_metric([port, "framing"], bus["discarded_bytes"])
            family.add_metric([port, "port"], bus["port_errors"])
        if scanner is not None and config.scanner is not None:
            lines: dict[str, Any] = scanner.health()
            port = config.scanner.port
            family.add_metric([port, "framing"], lines["garbage"] + lines["too_long"])
            family.add_metric([port, "port"], lines["failures"])
        yield family


class MetricsEndpoint:
    """The agent's /metrics over HTTP (prometheus_client's own server, a daemon thread) and
    the task that keeps its gauges current."""

    def __init__(self, agent: SiteAgent, config: MetricsConfig) -> None:
        self.agent = agent
        self.config = config
        self.metrics = AgentMetrics()
        self.metrics.watch(agent)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._refresh: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Serve on `metrics.listen` and start refreshing. ConfigError naming the key and
        host:port if it cannot be served there (in use, a bad address)."""
        host, port = self.config.address
        try:
            self._server, self._thread = start_http_server(
                port, host, registry=self.metrics.registry
            )
        except OSError as exc:
            raise ConfigError(
                f"metrics.listen: cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
            ) from None
        log.info("site %s: metrics on http://%s:%s/metrics", self.agent.site, host, port)
        self._refresh = asyncio.ensure_future(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            try:
                self.metrics.refresh(self.agent)
            except Exception as exc:  # noqa: BLE001 - a failed read leaves the gauges as they were
                log.warning("site %s: metrics not refreshed: %s", self.agent.site, exc)
            await asyncio.sleep(self.config.refresh_s)

    async def stop(self) -> None:
        """Stop serving and refreshing."""
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
