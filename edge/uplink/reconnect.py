"""How a failed attempt to reach the broker is told: one bounded line, this attempt's reason.

How long the site waits between attempts is the project's one backoff policy
(protocols/backoff.py, RECONNECT: capped exponential with full jitter, and why its cap is 30 s).
"""

from __future__ import annotations

import logging
from typing import Protocol

# The link's logger: these lines are the link's (SiteLink's), wherever they are worded.
log = logging.getLogger("edge.uplink.mqtt")

# A broker's or the OS's reason can be long (a TLS chain, a paho reason string): an error
# line is cut here so a log line's length never depends on what came before it.
MAX_REASON_CHARS = 200


def failure_reason(exc: BaseException) -> str:
    """One attempt's failure as `Type: message`, bounded by MAX_REASON_CHARS. Built from
    this attempt's exception only, never from an earlier attempt's text."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3] + "..."
    return text


class BrokerAddress(Protocol):
    """What names a broker in a line: its host and port (edge.config.BrokerConfig)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


class ConnectionLog:
    """The link's attempts as an operator follows them at INFO, each naming host:port:
    "connecting" once per outage, every failed attempt with its reason (the attempts are
    paced by the backoff, so these lines are too), and "connected"."""

    def __init__(self) -> None:
        self._said_connecting = False

    def taken_over(self, site: str) -> None:
        """The broker gave the site's session to another client under its id (reason 0x8E):
        most likely a second agent started for the same site by mistake."""
        log.error(
            "site %s: the broker gave this site's session to another client with its id:"
            " is a second agent running for this site?",
            site,
        )

    def connecting(self, site: str, where: str) -> None:
        """An attempt to `where` (host:port) begins."""
        if not self._said_connecting:
            self._said_connecting = True
            log.info("site %s: connecting to broker %s", site, where)

    def failed(self, site: str, where: str, exc: BaseException) -> str:
        """An attempt failed with `exc`; returns the line's text for the link's last_error."""
        reason = failure_reason(exc)
        log.info("site %s: broker %s unreachable: %s", site, where, reason)
        return f"{where}: {reason}"

    def lost(self, site: str, where: str, reason: str, *, refused: bool) -> str:
        """A connection the broker had accepted ended; returns the line's text. A refusal
        (the broker denied this site a topic) is a warning: it repeats until fixed."""
        if refused:
            log.warning("site %s: broker %s closed the connection: %s", site, where, reason)
        else:  # (the broker, the network or a missed keepalive: the reason may not say)
            log.info("site %s: connection to broker %s lost: %s", site, where, reason)
        return f"{where}: {reason}"

    def connected(self, site: str, broker: BrokerAddress, resumed: bool) -> None:
        """The broker accepted the connection; the next outage is said again."""
        self._said_connecting = False
        log.info(
            "site %s: connected to broker %s:%s (session %s)",
            site,
            broker.host,
            broker.port,
            "resumed" if resumed else "new",
        )
