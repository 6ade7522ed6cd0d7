"""Serving central's HTTP app: in a thread of `lockernet central run` (`[api] listen`), or
alone beside central (`lockernet central api`).

Either way the listening socket is bound before anything else starts, so a port already in
use is one clear error naming host:port, and the server runs uvicorn's own event loop.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from central.errors import ConfigError
from central.service.config import CentralConfig
from central.service.metrics import StoreGauges
from central.store import CentralStore
from central.store.open import open_reader, store_location
from central.web.console.live import close_streams
from central.web.context import RequestCommand, WebContext
from protocols.clock import Clock
from protocols.messages import CommandBody, Reply
from protocols.tokens import TokenSigner

log = logging.getLogger(__name__)

# How long start() waits for uvicorn to say it serves; stop() for it to finish requests.
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def parse_listen(listen: str) -> tuple[str, int]:
    """ "HOST:PORT" as (host, port); ConfigError naming the value if it is not one."""
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"api.listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port_text)


def bind(listen: str) -> socket.socket:
    """A listening TCP socket on `listen` ("HOST:PORT"); ConfigError naming host:port if it
    is taken or cannot be had."""
    host, port = parse_listen(listen)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"api.listen {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"api.listen {host}:{port} is already in use (another central or program "
                "serves there): choose another port"
            ) from None
        raise ConfigError(f"api.listen {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def web_context(
    config: CentralConfig,
    store: CentralStore,
    signer: TokenSigner,
    clock: Clock,
    request_command: RequestCommand | None,
) -> WebContext:
    """The context every route gets, for one process. Its /metrics registry holds the
    deployment's gauges read from the store at each scrape (alarms open, sites online): what
    an API process beside central serves; `central run` swaps in its own registry, which
    has those and the process's ingest and placement counters."""
    location = store_location(config.store)
    registry = CollectorRegistry()
    registry.register(StoreGauges(lambda: open_reader(location)))
    return WebContext(
        config=config,
        store=store,
        reader_location=location,
        signer=signer,
        clock=clock,
        request_command=request_command,
        registry=registry,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, which also ends the console's live streams on SIGTERM or SIGINT:
    uvicorn waits for open responses, and a live stream never ends by itself."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        close_streams(self._app)
        super().handle_exit(sig, frame)


class ApiServer:
    """The app served by uvicorn on a socket of its own, in a thread (start/stop) or in the
    calling thread (run)."""

    def __init__(self, app: FastAPI, listen: str) -> None:
        self.listen = listen
        self._socket = bind(listen)
        self.port = self._socket.getsockname()[1]
        self._app = app
        self._server = _Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False), app
        )
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve in this thread until SIGINT or SIGTERM (uvicorn's own handling)."""
        log.info("serving the API on %s", self.listen)
        self._server.run(sockets=[self._socket])

    def start(self) -> None:
        """Serve in a thread of its own; returns once uvicorn serves (ConfigError if not)."""
        self._thread = threading.Thread(target=self.run, name="central-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"api.listen {self.listen}: the API server did not start")
            time.sleep(0.01)  # uvicorn offers no event to wait on

    def stop(self) -> None:
        """Finish the requests under way and stop serving."""
        close_streams(self._app)  # a console's live stream would otherwise never finish
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()


def linked_request(
    config: CentralConfig, store: CentralStore, signer: TokenSigner
) -> RequestCommand:
    """For an API process beside central: each request to a site opens its own short MQTT
    link to the site's broker (as `lockernet diag` does), waits for the reply and records
    it with its command."""

    def request(site: str, body: CommandBody, timeout_s: float) -> Reply:
        from central.service.link import OperatorLink
        from central.sites.commands import CommandSender, record_reply
        from protocols.clock import SystemClock
        from protocols.errors import ProtocolError
        from protocols.messages import decode
        from protocols.topics import SiteChannel, Topics

        with store.transaction() as session:
            known = session.get_site(site)
        brokers = config.broker_list
        named = known.broker if known is not None else None
        broker = next((b for b in brokers if b.name == named), brokers[0])
        topics = Topics(config.topics.root)
        holder: list[CommandSender] = []

        def heard(message: Any) -> None:
            try:
                reply = decode(Reply, bytes(message.payload))
            except ProtocolError:
                return
            holder[0].waiters.resolve(reply)

        with OperatorLink(broker, [topics.site(site, SiteChannel.REPLIES)], heard) as link:
            sender = CommandSender(
                store, signer, topics, SystemClock(), link.publish, config.commands.expiry_s
            )
            holder.append(sender)
            reply = sender.request(site, body, timeout_s, expires_at=time.time() + timeout_s)
        with store.transaction() as session:
            record_reply(session, reply, time.time(), f"site {site} reply")
        return reply

    return request
