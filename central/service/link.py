"""Central's MQTT connections (paho-mqtt 2.x, MQTT 5): the service's long-lived session and
the short ones the operator commands open.

The service's session is persistent (clean_start false, a session expiry), so the broker
queues the sites' events while central is down; its Receive Maximum bounds how many
unacknowledged events the broker sends ahead, and with it how big a commit batch can grow.

Both reconnect with paho's own network thread (loop_start), waiting between attempts by the
project's one backoff policy (protocols/backoff.py, RECONNECT): see `ReconnectPacer`.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from central.errors import CentralError
from central.service.config import BrokerConfig
from protocols.backoff import RECONNECT, STABLE_CONNECTION_S, Backoff, BackoffPolicy

# How long a caller waits for the broker to accept a connection or a QoS 1 publish.
CONNECT_TIMEOUT_S = 10.0
PUBLISH_TIMEOUT_S = 10.0


class LinkError(CentralError):
    """The broker could not be reached, or did not take a message."""


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes


def _password(config: BrokerConfig) -> str | None:
    if config.password_file is None:
        return None
    try:
        return config.password_file.read_text().strip()
    except OSError as exc:
        raise LinkError(f"broker.password_file {config.password_file}: {exc.strerror}") from None


class ReconnectPacer:
    """Makes paho's reconnect loop wait by the project's backoff policy.

    paho's threaded loop waits between attempts on its own: doubling from a minimum to a cap,
    without jitter. Before each of those waits paho tells us why it is about to wait (the
    socket closed, or a connect failed before there was one), and we set both of its bounds
    to the wait the policy draws (`reconnect_delay_set` also restarts paho's doubling), so
    the wait paho sleeps is exactly ours. A connection that held STABLE_CONNECTION_S starts
    the count over. The callbacks run on paho's network thread.
    """

    def __init__(
        self,
        policy: BackoffPolicy = RECONNECT,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff = Backoff(policy, rng)
        self._monotonic = monotonic
        self._opened_at: float | None = None
        self.last_wait_s: float | None = None  # the wait set before paho's latest one

    def attach(self, client: mqtt.Client) -> None:
        """Pace `client`'s reconnects (uses its on_socket_open, on_socket_close and
        on_connect_fail callbacks)."""
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_connect_fail = self._connect_failed
        self._set(client, self.backoff.policy.min_s)

    def _opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._opened_at = self._monotonic()

    def _closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        opened_at, self._opened_at = self._opened_at, None
        if opened_at is not None and self._monotonic() - opened_at >= STABLE_CONNECTION_S:
            self.backoff.succeeded()
        self._set(client, self.backoff.failed())

    def _connect_failed(self, client: mqtt.Client, userdata: Any) -> None:
        # No socket was made (refused, unreachable): a failed attempt like any other.
        self._set(client, self.backoff.failed())

    def _set(self, client: mqtt.Client, wait_s: float) -> None:
        self.last_wait_s = wait_s
        # paho annotates these as int, but waits any number of seconds (it sleeps a float).
        client.reconnect_delay_set(wait_s, wait_s)  # type: ignore[arg-type]


def make_client(
    config: BrokerConfig,
    client_id: str,
    *,
    persistent: bool,
    manual_ack: bool,
    will: Will | None = None,
) -> tuple[mqtt.Client, Properties]:
    """A configured client and its CONNECT properties (not yet connected)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if config.username is not None:
        client.username_pw_set(config.username, _password(config))
    if config.ca_file is not None:
        try:
            client.tls_set(
                ca_certs=str(config.ca_file),
                certfile=str(config.cert_file) if config.cert_file else None,
                keyfile=str(config.key_file) if config.key_file else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise LinkError(f"broker TLS files cannot be used: {exc}") from None
    if will is not None:
        client.will_set(will.topic, will.payload, qos=1, retain=True)
    ReconnectPacer().attach(client)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = config.session_expiry_s if persistent else 0
    properties.ReceiveMaximum = config.receive_maximum
    return client, properties


def publish_properties(expiry_s: int | None) -> Properties | None:
    if expiry_s is None:
        return None
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.MessageExpiryInterval = max(1, int(expiry_s))
    return properties


def publish_and_wait(
    client: mqtt.Client,
    topic: str,
    payload: bytes,
    *,
    expiry_s: int | None = None,
    retain: bool = False,
    timeout_s: float = PUBLISH_TIMEOUT_S,
) -> None:
    """Publish at QoS 1 and return once the broker acknowledged it; LinkError otherwise."""
    if not client.is_connected():
        raise LinkError(f"not connected to the broker: cannot publish to {topic}")
    info = client.publish(
        topic, payload, qos=1, retain=retain, properties=publish_properties(expiry_s)
    )
    try:
        info.wait_for_publish(timeout_s)
    except (ValueError, RuntimeError) as exc:
        raise LinkError(f"publish to {topic} failed: {exc}") from None
    if not info.is_published():
        raise LinkError(f"broker did not acknowledge a publish to {topic} in {timeout_s:.0f} s")


class OperatorLink:
    """A short-lived, clean connection for one operator command (diag, and the like)."""

    def __init__(
        self,
        config: BrokerConfig,
        subscriptions: list[str],
        on_message: Callable[[mqtt.MQTTMessage], None],
    ) -> None:
        self._client, self._properties = make_client(
            config, f"lockernet-cli-{uuid.uuid4().hex[:12]}", persistent=False, manual_ack=False
        )
        self._config = config
        self._subscriptions = subscriptions
        self._ready = threading.Event()
        self._failure: str | None = None
        self._on_message = on_message
        self._client.on_connect = self._connected
        self._client.on_subscribe = self._subscribed
        self._client.on_message = lambda _c, _u, message: self._on_message(message)

    def _connected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._failure = f"broker refused the connection: {reason}"
            self._ready.set()
            return
        if not self._subscriptions:
            self._ready.set()
            return
        client.subscribe([(topic, 1) for topic in self._subscriptions])

    def _subscribed(self, *_args: object) -> None:
        self._ready.set()

    def __enter__(self) -> OperatorLink:
        try:
            self._client.connect(
                self._config.host,
                self._config.port,
                self._config.keepalive_s,
                clean_start=True,
                properties=self._properties,
            )
        except OSError as exc:
            raise LinkError(
                f"cannot reach the broker at {self._config.host}:{self._config.port}: {exc}"
            ) from None
        self._client.loop_start()
        if not self._ready.wait(CONNECT_TIMEOUT_S) or self._failure:
            self.__exit__(None, None, None)
            raise LinkError(self._failure or "broker did not accept the connection in time")
        return self

    def publish(self, topic: str, payload: bytes, expiry_s: int, broker: str | None = None) -> None:
        """Publish at QoS 1 and wait for the broker (this link's one broker: `broker`, the
        site's broker name, is for publishers that have several)."""
        publish_and_wait(self._client, topic, payload, expiry_s=expiry_s)

    def __exit__(self, *_exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()
