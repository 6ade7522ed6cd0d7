"""Central's MQTT sessions, one per broker: persistent, subscribed again on every connect,
each message handed to the ingest worker with what acknowledging it later takes.

Each session is persistent (clean_start False) and acknowledged by hand (paho manual_ack):
what central has not committed the broker keeps, and resends after a reconnect. With several
brokers (`[[brokers]]`, docs/brokers.md) each has its own client and session; a message is
acknowledged on the session it came on, and a site's commands go out on the broker it is
heard on (`BrokerSessions`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.service import systemd
from central.service.config import BrokerConfig, CentralConfig
from central.service.ingest_worker import AckToken
from central.service.link import LinkError, Will, make_client, publish_and_wait
from central.sites.ingest import Delivery
from central.sites.liveness import BrokerHearing
from protocols.clock import Clock
from protocols.errors import ProtocolError
from protocols.messages import Reply, decode
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)

# How long a stopping central waits for the broker to take its offline status.
OFFLINE_STATUS_TIMEOUT_S = 2.0
# A broker that stays unreachable is logged again at these failed attempts (the waits between
# attempts already follow the reconnect backoff), then every REPEAT_EVERY_ATTEMPTS: an
# outage is never silent, and a night of it is a few dozen lines, not thousands.
REPEAT_AT_ATTEMPTS = frozenset({2, 4, 8, 16, 32})
REPEAT_EVERY_ATTEMPTS = 64


class BrokerSession:
    """One broker's MQTT client and its callbacks (called on paho's network thread)."""

    def __init__(
        self,
        config: CentralConfig,
        broker: BrokerConfig,
        *,
        topics: Topics,
        clock: Clock,
        status: Callable[[bool], bytes],
        stopping: threading.Event,
        deliver: Callable[[Delivery, AckToken], None],
        reply_heard: Callable[[Reply], object],
    ) -> None:
        """`status(online)` is central's status message as of now; `deliver` takes each
        message for the ingest worker; `reply_heard` gets a site's reply the moment it comes
        (whoever waits for it), before it is stored with the next batch."""
        self.config = config
        self.broker = broker
        self.name = broker.name
        self.topics = topics
        self.clock = clock
        self._status = status
        self._stopping = stopping
        self._deliver = deliver
        self._reply_heard = reply_heard
        # Counted up on each connect: a packet id is only good on the connection it came on.
        self.generation = 0
        # When this process last began to hear the sites (a connect): a site's silence is
        # counted from here at the earliest (central/sites/liveness.py).
        self.listening_since: float | None = None
        # Since when this process has had no connection to the broker (None: connected).
        # Counted from the first attempt, so a broker down at start-up is noticed too.
        self.unreachable_since: float | None = None
        self.connected = threading.Event()
        # Failed connects in this outage: the first is logged, then fewer and fewer.
        self._failed_attempts = 0
        will = Will(topics.central_status(), status(False))
        self.client, self._connect_properties = make_client(
            broker, broker.client_id, persistent=True, manual_ack=True, will=will
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        # The reconnect pacer (make_client) already listens for failed connects: chained.
        self._pace_connect_fail = self.client.on_connect_fail
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def connect(self, wait_connected_s: float | None) -> None:
        """Connect in the background (paho reconnects on its own); wait up to
        `wait_connected_s` for the first connection, and only log if it is not there yet."""
        broker = self.broker
        self.unreachable_since = self.clock.now()
        log.info("connecting to broker %s (%s)", self.name, broker.address)
        self.client.connect_async(
            broker.host,
            broker.port,
            broker.keepalive_s,
            clean_start=False,
            properties=self._connect_properties,
        )
        self.client.loop_start()
        if wait_connected_s is not None and not self.connected.wait(wait_connected_s):
            log.warning(
                "not connected to broker %s (%s) yet; retrying in the background",
                self.name,
                broker.address,
            )

    def close(self) -> None:
        """Say offline (retained), disconnect; the session stays at the broker."""
        if self.client.is_connected():
            try:
                publish_and_wait(
                    self.client,
                    self.topics.central_status(),
                    self._status(False),
                    retain=True,
                    timeout_s=OFFLINE_STATUS_TIMEOUT_S,
                )
            except LinkError as exc:
                log.warning(
                    "could not publish central's offline status on broker %s (%s): %s",
                    self.name,
                    self.broker.address,
                    exc,
                )
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error(
                "broker %s (%s) refused central's connection: %s",
                self.name,
                self.broker.address,
                reason,
            )
            return
        self.generation += 1
        self._failed_attempts = 0
        self.listening_since = self.clock.now()
        self.unreachable_since = None
        options = SubscribeOptions(qos=1)
        # Subscribed on every connect, whatever session_present says: Mosquitto 2.0 does not
        # restore a shared subscription across its own restart, though it says the session
        # is present. Heartbeats at QoS 0: one that is late is worth nothing.
        client.subscribe(
            [
                (self.topics.shared_events(self.config.topics.share_group), options),
                (self.topics.all_sites(SiteChannel.STATUS), options),
                (self.topics.all_sites(SiteChannel.STATE), options),
                (self.topics.all_sites(SiteChannel.REPLIES), options),
                (self.topics.all_sites(SiteChannel.HEARTBEAT), SubscribeOptions(qos=0)),
            ]
        )
        client.publish(self.topics.central_status(), self._status(True), qos=1, retain=True)
        log.info(
            "connected to broker %s (%s, session %s)",
            self.name,
            self.broker.address,
            "resumed" if flags.session_present else "new",
        )
        self.connected.set()
        systemd.notify("READY=1")

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error(
                "broker %s (%s) refused central's subscriptions: %s",
                self.name,
                self.broker.address,
                ", ".join(refused),
            )
        else:
            log.info(
                "subscribed to the sites on broker %s (events shared in group %s)",
                self.name,
                self.config.topics.share_group,
            )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.connected.clear()
        # Silence from here on says nothing about the sites: the broker is what went quiet.
        self.listening_since = None
        if self.unreachable_since is None:
            self.unreachable_since = self.clock.now()
        if not self._stopping.is_set():
            log.warning(
                "lost broker %s (%s): %s; reconnecting", self.name, self.broker.address, reason
            )

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if self._pace_connect_fail is not None:
            self._pace_connect_fail(client, userdata)
        # paho retries on its own and says nothing: without this, a broker down at start-up
        # (a wrong host or port in central.toml) shows in the log only as its alarm, later.
        # paho calls this from inside its `except OSError`: that error is the reason.
        self._failed_attempts += 1
        attempt = self._failed_attempts
        if self._stopping.is_set():
            return
        reason = _current_error()
        if attempt == 1:
            log.warning(
                "cannot reach broker %s (%s): %s; retrying in the background",
                self.name,
                self.broker.address,
                reason,
            )
        elif attempt in REPEAT_AT_ATTEMPTS or attempt % REPEAT_EVERY_ATTEMPTS == 0:
            log.warning(
                "broker %s (%s) still unreachable after %s attempts: %s; retrying",
                self.name,
                self.broker.address,
                attempt,
                reason,
            )

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker gives it to whoever runs next
        token = AckToken(self.generation, message.mid, message.qos, self.name)
        topic = message.topic
        if topic.endswith("/" + SiteChannel.REPLIES.value):
            # Whoever waits for this reply hears it now; it is stored with the next batch.
            # A malformed reply is counted and logged by the batch commit.
            with contextlib.suppress(ProtocolError):
                self._reply_heard(decode(Reply, bytes(message.payload)))
        delivery = Delivery(
            topic,
            bytes(message.payload),
            retained=bool(message.retain),
            received_at=self.clock.now(),
        )
        self._deliver(delivery, token)


def _current_error() -> str:
    """The exception being handled now, as one short line ("ConnectionRefusedError: [Errno
    111] Connection refused"), or "unknown reason" outside an except block."""
    exc = sys.exc_info()[1]
    if exc is None:
        return "unknown reason"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class BrokerSessions:
    """Central's sessions, one per configured broker (`config.broker_list`): what the service,
    its ingest worker and its timers do on "the broker" is done here on the right one."""

    def __init__(self, sessions: list[BrokerSession]) -> None:
        """`sessions`: one per broker, each with its own name."""
        self.by_name = {s.name: s for s in sessions}

    def __iter__(self) -> Iterator[BrokerSession]:
        return iter(self.by_name.values())

    def connect(self, wait_connected_s: float | None) -> None:
        """Connect every session in the background; wait up to `wait_connected_s` (in all)
        for each one's first connection. A broker that is down does not hold up the others:
        its sites wait for it, the rest are served."""
        for session in self:
            session.connect(None)
        if wait_connected_s is None:
            return
        deadline = time.monotonic() + wait_connected_s
        for session in self:
            if not session.connected.wait(max(0.0, deadline - time.monotonic())):
                log.warning(
                    "not connected to broker %s (%s) yet; retrying in the background",
                    session.name,
                    session.broker.address,
                )

    def close(self) -> None:
        """Say offline on every broker and disconnect (the sessions stay at the brokers)."""
        for session in self:
            session.close()

    def is_connected(self) -> bool:
        """True while at least one broker is connected."""
        return any(s.client.is_connected() for s in self)

    def all_connected(self) -> bool:
        return all(s.client.is_connected() for s in self)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish on every connected broker without waiting (central's retained status:
        the sites of every shard read it)."""
        for session in self:
            if session.client.is_connected():
                session.client.publish(topic, payload, qos=qos, retain=retain)

    def hearing(self) -> list[BrokerHearing]:
        """How this process hears each broker now (for the liveness check)."""
        return [
            BrokerHearing(
                name=s.name,
                address=s.broker.address,
                client_id=s.broker.client_id,
                listening_since=s.listening_since if s.client.is_connected() else None,
                unreachable_since=s.unreachable_since,
            )
            for s in self
        ]

    def connected_names(self) -> list[str]:
        """Names of the brokers connected now."""
        return [s.name for s in self if s.client.is_connected()]

    def ack(self, token: AckToken) -> None:
        """Acknowledge a committed message on the session it came on, if that connection is
        still the one it came on: after a reconnect the broker sends the message again, and
        its old packet id on the new connection would acknowledge a different message."""
        session = self.by_name.get(token.broker)
        if session is not None and token.generation == session.generation and token.qos > 0:
            session.client.ack(token.mid, token.qos)

    def publish_to_site(
        self, topic: str, payload: bytes, expiry_s: int, broker: str | None = None
    ) -> None:
        """Publish a command for a site at QoS 1 on `broker` (where the site was last heard)
        and wait for the broker to take it. Unknown or unheard-of `broker`: on every
        connected broker; a site subscribes on its own broker only, so at most one of them
        delivers it. LinkError if no broker took it."""
        session = self.by_name.get(broker) if broker is not None else None
        targets = [session] if session is not None else list(self)
        failures = []
        for target in targets:
            try:
                publish_and_wait(target.client, topic, payload, expiry_s=expiry_s)
            except LinkError as exc:
                failures.append(f"broker {target.name} ({target.broker.address}): {exc}")
        if len(failures) == len(targets):
            raise LinkError("; ".join(failures))
