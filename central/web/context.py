"""What every route of central's HTTP app is given: the config, the store, the signer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from central.service.config import CentralConfig
from central.store import CentralStore
from central.web.auth import LoginThrottle
from protocols.clock import Clock
from protocols.messages import CommandBody, Reply
from protocols.tokens import TokenSigner

# Ask a site and wait for its reply: (site, body, timeout_s) -> Reply; CommandFailed when
# no reply came. The service passes its CommandSender's; a standalone API process its own
# short-lived link (central/service/link.py).
RequestCommand = Callable[[str, CommandBody, float], Reply]


@dataclass
class WebContext:
    """Shared by the app's routes; built once per process."""

    config: CentralConfig
    store: CentralStore  # writes (audit log, acknowledgements, badges, partners, webhooks)
    reader_location: str  # central.store.open.open_reader(reader_location): the read path
    signer: TokenSigner
    clock: Clock
    request_command: RequestCommand | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Wrong passwords by name, for the app's logins (API and console alike).
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
