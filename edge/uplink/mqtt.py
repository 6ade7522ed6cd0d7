"""The site's MQTT link: paho-mqtt 2.x (MQTT 5) driven by an asyncio loop, no threads.

`SiteLink` keeps one site connected: it connects (the blocking TCP and TLS connect in the
default executor, so a slow broker never stalls the doors), says the site is online and
publishes its state, takes commands in, and reconnects on the project's backoff
(protocols/backoff.py) when the connection is lost. The socket is watched from the event
loop by `SocketPump` (edge/uplink/socket_pump.py); the events go out through
`OutboxPublisher` (edge/uplink/outbox_publisher.py), from the store's outbox, not paho's
in-memory queue: rows leave the outbox only on the broker's PUBACK.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import BrokerConfig
from edge.store.sqlite import Store
from edge.uplink.diagnosis import Diagnosis, tls_reason
from edge.uplink.outbox_publisher import LinkStats, OutboxPublisher
from edge.uplink.reconnect import ConnectionLog
from edge.uplink.socket_pump import SocketPump
from protocols.backoff import RECONNECT, STABLE_CONNECTION_S, Backoff, BackoffPolicy
from protocols.clock import Clock
from protocols.messages import SiteStatus, StateSnapshot, encode
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)

__all__ = ["LinkStats", "SiteLink"]

# A site's session outlives a long outage so commands queued for it are kept (each command
# carries its own message expiry, so stale ones die at the broker).
SESSION_EXPIRY_S = 14 * 86400
CONNECT_TIMEOUT_S = 10.0
# MQTT 5.0 reason code 0x8E "Session taken over" (§2.4): another client connected with this
# site's client id (a second agent, a cloned card). Reconnecting at once would take the
# session back, and the other would take it again: wait at least half the reconnect cap.
SESSION_TAKEN_OVER = 0x8E


def new_client(
    site: str, broker: BrokerConfig, inflight_limit: int, will: tuple[str, bytes]
) -> mqtt.Client:
    """A paho client for one connection of `site` to `broker` (MQTT 5, never reconnecting by
    itself: SiteLink's loop does that), with `will` = (topic, payload) as its retained will."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"site-{site}",
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    # Our outbox is the queue: we never hand paho more than it may have in flight.
    client.max_inflight_messages_set(inflight_limit)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(
            ca_certs=str(broker.ca_file),
            certfile=str(broker.cert_file) if broker.cert_file else None,
            keyfile=str(broker.key_file) if broker.key_file else None,
        )
    client.will_set(will[0], will[1], qos=1, retain=True)
    return client


async def send_connect(
    loop: asyncio.AbstractEventLoop, client: mqtt.Client, broker: BrokerConfig
) -> None:
    """Open the socket and send CONNECT (paho's blocking call, run in the executor), asking
    the broker to keep this site's session (clean_start off, SESSION_EXPIRY_S). TimeoutError
    after CONNECT_TIMEOUT_S; a failed TLS handshake is a ConnectionError that says so (it
    happens inside connect: this site's verdict on the broker, or the broker's on it)."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    async with asyncio.timeout(CONNECT_TIMEOUT_S):  # not wait_for: see edge/timing.py
        try:
            await loop.run_in_executor(
                None,
                lambda: client.connect(
                    broker.host,
                    broker.port,
                    keepalive=broker.keepalive_s,
                    clean_start=False,
                    properties=properties,
                ),
            )
        except ssl.SSLError as exc:
            raise ConnectionError(tls_reason(str(exc)) or f"TLS: {exc}") from exc


async def first_of(a: asyncio.Event, b: asyncio.Event, timeout_s: float) -> None:
    """Wait until `a` or `b` is set, or `timeout_s` passes (the caller looks which)."""
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def status_payload(
    site: str, online: bool, boot_id: str, at: float, agent_version: str | None
) -> bytes:
    """The retained status message (online, or the offline of a stop and of the will)."""
    return encode(
        SiteStatus(site=site, online=online, boot_id=boot_id, at=at, agent_version=agent_version)
    )


class SiteLink:
    """One site's connection to the broker."""

    def __init__(
        self,
        *,
        site: str,
        boot_id: str,
        broker: BrokerConfig,
        store: Store,
        clock: Clock,
        snapshot: Callable[[], StateSnapshot],
        on_command: Callable[[bytes], Awaitable[None]],
        inflight_limit: int = 32,
        republish_after_s: float = 30.0,
        reconnect_min_s: float = RECONNECT.min_s,
        reconnect_max_s: float = RECONNECT.max_s,
        agent_version: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.site = site
        self.boot_id = boot_id
        self.broker = broker
        self.topics = Topics(broker.topic_root)
        self.store = store
        self.clock = clock
        self._snapshot = snapshot
        self._on_command = on_command
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.agent_version = agent_version
        self._rng = rng
        self.stats = LinkStats()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._pump = SocketPump(on_lost=self._lost.set)
        self._outbox = OutboxPublisher(
            store,
            clock,
            self.stats,
            inflight_limit=inflight_limit,
            republish_after_s=republish_after_s,
        )
        self._tasks: set[asyncio.Task[None]] = set()  # the commands being handled
        self._up = asyncio.Event()  # cleared while the uplink is taken down
        self._up.set()
        self._refusal: str | None = None  # why the current connect attempt failed, if known
        self._diagnosis = Diagnosis(site)  # why the current connection ends, if it does
        self._attempts = ConnectionLog()

    # --------------------------------------------------------------------------- public
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def health(self) -> dict[str, Any]:
        """The uplink as the technician's report shows it: connected, and its counters."""
        return {"connected": self.connected, **self.stats.counters()}

    def kick(self) -> None:
        """New events are in the outbox: drain now rather than at the next tick."""
        self._outbox.wake.set()

    @property
    def _client(self) -> mqtt.Client | None:  # the current connection's client, if any
        return self._pump.client

    async def run(self) -> None:
        """Connect, stay connected, drain the outbox, until cancelled."""
        self._pump.bind()
        # Capped exponential with full jitter (protocols/backoff.py), so 2,100 sites that lost
        # the broker together do not all come back in one second. A cap below the minimum
        # (each valid alone in the configuration) waits the minimum: the link still connects.
        cap_s = max(self.reconnect_min_s, self.reconnect_max_s)
        backoff = Backoff(BackoffPolicy(self.reconnect_min_s, cap_s), self._rng)
        try:
            while True:
                await self._up.wait()
                where = f"{self.broker.host}:{self.broker.port}"  # this attempt's broker
                self._attempts.connecting(self.site, where)
                taken_over = self.stats.taken_over
                connected_at: float | None = None
                try:
                    await self._connect()
                    connected_at = self.clock.monotonic()
                    await self._serve()
                    if self._up.is_set():  # not taken down: the broker ended it
                        self.stats.last_error = self._attempts.lost(
                            self.site,
                            where,
                            self._diagnosis.why_closed(),
                            refused=bool(self._diagnosis.denied),
                        )
                except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
                    # This attempt's reason only: a line never carries an earlier one's text.
                    self.stats.last_error = self._attempts.failed(self.site, where, exc)
                self._teardown()
                if connected_at is not None and (
                    self.clock.monotonic() - connected_at >= STABLE_CONNECTION_S
                ):
                    backoff.succeeded()  # it held: a fresh outage starts from the shortest wait
                delay = backoff.failed()
                if self.stats.taken_over > taken_over:  # do not fight for the session
                    delay = max(delay, self.reconnect_max_s / 2)
                await self.clock.sleep(delay)
        finally:
            await self._close()

    def take_down(self) -> None:
        """Lose the uplink (a pulled network cable; the simulator's outage): the connection
        drops without a goodbye and nothing reconnects until `bring_up`."""
        self._up.clear()
        self._teardown()
        self._lost.set()

    def bring_up(self) -> None:
        self._up.set()

    def publish_state(self) -> None:
        """Publish the retained full-state snapshot now (on connect, and on request)."""
        if self._client is not None and self.connected:
            self._publish(SiteChannel.STATE, encode(self._snapshot()), retain=True)

    def reply(self, payload: bytes) -> None:
        """Send a reply to a command (QoS 1; if the link is down the caller's reply is lost,
        and central times out and asks again)."""
        if self._client is not None and self.connected:
            self._publish(SiteChannel.REPLIES, payload, retain=False)

    def publish_heartbeat(self, payload: bytes) -> bool:
        """Send one heartbeat (QoS 0, not retained: a beat is worth nothing once late, and
        a retained one would outlive the site like its "online"). False when not connected."""
        if self._client is None or not self.connected:
            return False
        topic = self.topics.site(self.site, SiteChannel.HEARTBEAT)
        return self._client.publish(topic, payload, qos=0).rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    async def stop(self, graceful: bool = True) -> None:
        """Say offline (retained) and disconnect; the last will covers a crash instead."""
        client = self._client
        if client is not None and self.connected and graceful:
            info = self._publish(SiteChannel.STATUS, self._status(False), retain=True)
            deadline = self.clock.monotonic() + 2
            while not info.is_published() and self.clock.monotonic() < deadline and self.connected:
                await asyncio.sleep(0.01)
            client.disconnect()
        await self._close()

    # ------------------------------------------------------------------------ connecting
    def _status(self, online: bool) -> bytes:
        return status_payload(self.site, online, self.boot_id, self.clock.now(), self.agent_version)

    def _new_client(self) -> mqtt.Client:
        """A client for one connection (paho's state is not reused across connections)."""
        client = new_client(
            self.site,
            self.broker,
            self._outbox.inflight_limit,
            will=(self.topics.site(self.site, SiteChannel.STATUS), self._status(False)),
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_log = self._on_log
        return client

    async def _connect(self) -> None:
        self._connected.clear()
        self._lost.clear()
        self._refusal = None
        self._diagnosis.reset()
        client = self._new_client()
        self._pump.attach(client)
        await send_connect(self._pump.loop, client, self.broker)
        # The connect ran in another thread: make sure the socket is watched from here on.
        self._pump.started(client)
        await first_of(self._connected, self._lost, CONNECT_TIMEOUT_S)
        if self._diagnosis.accepted:
            # Accepted: if the broker closes it at once (topics refused) the run loop says why.
            return
        # This attempt's own reason (stats.last_error still holds the previous one's).
        raise ConnectionError(
            self._refusal or f"no CONNACK from the broker in {CONNECT_TIMEOUT_S:.0f} s"
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        refusal = self._diagnosis.connacked(reason)
        if refusal is not None:
            self._refusal = refusal
            self._lost.set()
            return
        self.stats.connects += 1
        self.stats.connected_since = self.clock.now()
        self._attempts.connected(self.site, self.broker, flags.session_present)
        # Whatever was in flight on the old connection is published again from the outbox.
        self._outbox.forget_inflight()
        client.subscribe(self.topics.site(self.site, SiteChannel.COMMANDS), qos=1)
        self._connected.set()
        self._publish(SiteChannel.STATUS, self._status(True), retain=True)
        self._publish(SiteChannel.STATE, encode(self._snapshot()), retain=True)
        self._outbox.wake.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if client is not self._client:
            return
        if not self._pump.on_loop_thread():
            # A failed connect reports from the executor thread: asyncio objects are
            # touched only on the loop's own thread.
            self._pump.loop.call_soon_threadsafe(
                self._on_disconnect, client, userdata, flags, reason, properties
            )
            return
        self.stats.disconnects += 1
        self.stats.last_error = f"disconnected: {reason}"
        self._diagnosis.closed(reason)
        if reason.value == SESSION_TAKEN_OVER:
            self.stats.taken_over += 1
            self._attempts.taken_over(self.site)
        if not self._connected.is_set():
            self._refusal = self._refusal or self._diagnosis.before_connack()
        self._connected.clear()
        self._lost.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._diagnosis.acknowledged(mid, reason)
        self._outbox.acknowledged(mid, reason)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        commands = self.topics.site(self.site, SiteChannel.COMMANDS)
        self._diagnosis.subscribed(commands, reasons)

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, text: str) -> None:
        if level == mqtt.MQTT_LOG_ERR and client is self._client:
            self._diagnosis.socket_error(text)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # A command is handled as its own task: a slow one (a door to open on a busy bus)
        # never holds up the socket, and the link's close cancels the ones still running.
        task = asyncio.ensure_future(self._on_command(bytes(message.payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------------- publishing
    def _publish(self, channel: SiteChannel, payload: bytes, retain: bool) -> mqtt.MQTTMessageInfo:
        assert self._client is not None
        topic = self.topics.site(self.site, channel)
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        self._diagnosis.published(info.mid, topic)
        return info

    async def _serve(self) -> None:
        """Drain the outbox while connected; return when the connection is lost."""
        client = self._client
        if client is not None:
            topic = self.topics.site(self.site, SiteChannel.EVENTS)
            await self._outbox.serve(client, topic, self._lost)

    # -------------------------------------------------------------------------- closing
    def _teardown(self) -> None:
        self._connected.clear()
        self._pump.detach()
        self._outbox.forget_inflight()

    async def _close(self) -> None:
        self._teardown()
        await self._pump.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
