"""Central's one MQTT session: persistent, subscribed again on every connect, each message
handed to the ingest worker with what acknowledging it later takes.

The session is persistent (clean_start False) and acknowledged by hand (paho manual_ack):
what central has not committed the broker keeps, and resends after a reconnect.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.service import systemd
from central.service.config import CentralConfig
from central.service.ingest_worker import AckToken
from central.service.link import LinkError, Will, make_client, publish_and_wait
from central.sites.ingest import Delivery
from protocols.clock import Clock
from protocols.errors import ProtocolError
from protocols.messages import Reply, decode
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)

# How long a stopping central waits for the broker to take its offline status.
OFFLINE_STATUS_TIMEOUT_S = 2.0


class BrokerSession:
    """The MQTT client and its callbacks (called on paho's network thread)."""

    def __init__(
        self,
        config: CentralConfig,
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
        self.connected = threading.Event()
        will = Will(topics.central_status(), status(False))
        self.client, self._connect_properties = make_client(
            config.broker, config.broker.client_id, persistent=True, manual_ack=True, will=will
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def connect(self, wait_connected_s: float | None) -> None:
        """Connect in the background (paho reconnects on its own); wait up to
        `wait_connected_s` for the first connection, and only log if it is not there yet."""
        broker = self.config.broker
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
                "not connected to %s:%s yet; retrying in the background", broker.host, broker.port
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
                log.warning("could not publish central's offline status: %s", exc)
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
            log.error("broker refused central's connection: %s", reason)
            return
        self.generation += 1
        self.listening_since = self.clock.now()
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
            "connected to the broker (session %s)",
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
            log.error("broker refused central's subscriptions: %s", ", ".join(refused))
        else:
            log.info(
                "subscribed to the sites (events shared in group %s)",
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
        if not self._stopping.is_set():
            broker = self.config.broker
            log.warning(
                "lost the broker %s:%s (%s); reconnecting", broker.host, broker.port, reason
            )

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker gives it to whoever runs next
        token = AckToken(self.generation, message.mid, message.qos)
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
