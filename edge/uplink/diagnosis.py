"""Why one connection to the broker ended, or never got going, in words an installer acts on.

The broker says little: a site missing from its ACL gets a CONNACK, then "Not authorized"
for its first publish, then a closed socket; a site certificate from another CA ends in a
TLS alert that paho reports only through its log callback. `Diagnosis` collects what one
connection showed (the CONNACK, a refused topic, the socket's last error, the DISCONNECT's
reason) and says it, naming what to check.
"""

from __future__ import annotations

from paho.mqtt.reasoncodes import ReasonCode

# MQTT 5.0 reason codes (§2.4) that mean the broker does not admit this client as it is:
# 0x85 client identifier not valid, 0x86 bad user name or password, 0x87 not authorized.
ACCESS_REFUSED = frozenset({0x85, 0x86, 0x87})


def code(reason: ReasonCode) -> str:
    """An MQTT reason code as an operator can look it up: "Not authorized (0x87)"."""
    return f"{reason} (0x{reason.value:02X})"


def tls_reason(error: str) -> str | None:
    """The TLS failure in a socket error's text (paho's or ssl's), said as whose
    verification failed; None if `error` is not about TLS."""
    # The advice comes first: a line is cut at MAX_REASON_CHARS, and OpenSSL's text is long.
    lowered = error.lower()
    if "certificate verify failed" in lowered:
        return (
            "TLS: this site does not trust the broker's certificate (check broker.ca_file "
            f"and the broker host name): {error}"
        )
    if "ssl" not in lowered and "tls" not in lowered:
        return None
    if "alert" in lowered:  # the broker's side of the handshake refused us
        return (
            "TLS: the broker refused this site's certificate (check that broker.cert_file "
            f"was issued by the broker's CA and is not revoked): {error}"
        )
    return (
        "TLS: the handshake failed; the broker may refuse this site's certificate "
        f"(broker.cert_file): {error}"
    )


def refused_access(site: str, detail: str) -> str:
    """What the broker refusing this site means, and what to check."""
    return (
        f"{detail}: check that the broker's ACL lists site {site} (rendered by lockernet pki "
        f"broker-config from the network's sites) and that the site certificate's CN is {site}"
    )


class Diagnosis:
    """What one connection of `site` showed about its end; `reset` for each new one."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.connack: ReasonCode | None = None
        self.denied: str | None = None  # a topic the broker refused this site
        self._socket_error: str | None = None
        self._closed: ReasonCode | None = None
        self._own: dict[int, str] = {}  # our own publishes in flight: mid -> topic

    def reset(self) -> None:
        self.connack = self._closed = None
        self.denied = self._socket_error = None
        self._own.clear()

    @property
    def accepted(self) -> bool:
        """The broker sent a CONNACK that admits us (whatever happened after)."""
        return self.connack is not None and not self.connack.is_failure

    def connacked(self, reason: ReasonCode) -> str | None:
        """The broker's CONNACK; returns the refusal's words if it refused."""
        self.connack = reason
        if not reason.is_failure:
            return None
        refusal = f"the broker refused the connection: {code(reason)}"
        return refused_access(self.site, refusal) if reason.value in ACCESS_REFUSED else refusal

    def published(self, mid: int, topic: str) -> None:
        self._own[mid] = topic

    def acknowledged(self, mid: int, reason: ReasonCode) -> None:
        topic = self._own.pop(mid, None)
        if topic is not None and reason.is_failure and self.denied is None:
            self.denied = f"the broker refused a publish to {topic}: {code(reason)}"

    def subscribed(self, topic: str, reasons: list[ReasonCode]) -> None:
        refused = next((r for r in reasons if r.is_failure), None)
        if refused is not None and self.denied is None:
            self.denied = f"the broker refused the subscription to {topic}: {code(refused)}"

    def socket_error(self, text: str) -> None:
        # paho reports a socket error (a TLS alert from the broker among them) only as a log.
        self._socket_error = text

    def closed(self, reason: ReasonCode) -> None:
        self._closed = reason

    def before_connack(self) -> str:
        """Why the connection ended before any CONNACK."""
        return tls_reason(self._socket_error or "") or (
            f"disconnected before CONNACK: {self.why_closed()}"
        )

    def why_closed(self) -> str:
        """Why this connection ended, as far as it showed."""
        if self.denied:
            return refused_access(self.site, self.denied)
        # A TLS error is the handshake's only before the CONNACK: after it, a broker that
        # stops without TLS's goodbye is a connection lost like any other.
        tls = tls_reason(self._socket_error or "") if self.connack is None else None
        if tls:
            return tls
        # Not paho's socket text otherwise: whether a dropped connection reads as a reset
        # or an end of file is timing, and an operator's lines should not vary with it.
        return code(self._closed) if self._closed is not None else "the connection was lost"
