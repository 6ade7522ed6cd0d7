"""The site's MQTT link: paho-mqtt 2.x (MQTT 5) driven by an asyncio loop, no threads.

Many agents share one event loop in the fleet simulator, so a paho client never gets a
thread of its own: its socket is registered with the loop (add_reader / add_writer) and
`loop_misc` runs on a timer. Only the blocking TCP (and TLS) connect runs in the default
executor, so a slow broker never stalls the doors; the callbacks paho makes from there are
handed back to the loop thread.

The outbox in the site's store is the buffer, not paho's in-memory queue: rows are published
in sequence order and leave the outbox only on the broker's PUBACK.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import BrokerConfig
from edge.store.sqlite import Store
from edge.uplink.reconnect import RECONNECT_MAX_S, RECONNECT_MIN_S, backoff_s, failure_reason
from protocols.clock import Clock
from protocols.messages import SiteStatus, StateSnapshot, encode
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)

MISC_INTERVAL_S = 1.0  # paho's keepalive and retry bookkeeping
# A site's session outlives a long outage so commands queued for it are kept (each command
# carries its own message expiry, so stale ones die at the broker).
SESSION_EXPIRY_S = 14 * 86400
CONNECT_TIMEOUT_S = 10.0
# MQTT 5.0 reason code 0x8E "Session taken over" (§2.4): another client connected with this
# site's client id (a second agent, a cloned card). Reconnecting at once would take the
# session back, and the other would take it again: wait at least half the reconnect cap.
SESSION_TAKEN_OVER = 0x8E
# A connection lost sooner than this after it was made counts as a failed attempt: the
# backoff goes on growing instead of starting over. Mosquitto drops the older of two clients
# with one id by closing its socket, reason unsaid: without this, two agents with one
# identity would take the session from each other several times a second.
STABLE_CONNECTION_S = 10.0


@dataclass
class LinkStats:
    connects: int = 0
    disconnects: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    taken_over: int = 0  # sessions the broker gave to another client with our id
    last_error: str | None = None
    connected_since: float | None = None
    inflight: dict[int, tuple[int, float]] = field(default_factory=dict)  # mid -> (seq, sent)


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
        reconnect_min_s: float = RECONNECT_MIN_S,
        reconnect_max_s: float = RECONNECT_MAX_S,
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
        self.inflight_limit = inflight_limit
        self.republish_after_s = republish_after_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.agent_version = agent_version
        self._rng = rng or random.Random()  # noqa: S311 - reconnect jitter, not a secret
        self.stats = LinkStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._client: mqtt.Client | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self._sock: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._up = asyncio.Event()  # cleared while the uplink is taken down
        self._up.set()
        self._refusal: str | None = None  # why the current connect attempt failed, if known

    # --------------------------------------------------------------------------- public
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def kick(self) -> None:
        """New events are in the outbox: drain now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Connect, stay connected, drain the outbox, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        failures = 0
        try:
            while True:
                await self._up.wait()
                where = f"{self.broker.host}:{self.broker.port}"  # this attempt's broker
                taken_over = self.stats.taken_over
                connected_at: float | None = None
                try:
                    await self._connect()
                    connected_at = self.clock.monotonic()
                    await self._serve()
                except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
                    # This attempt's reason only: a line never carries an earlier one's text.
                    self.stats.last_error = f"{where}: {failure_reason(exc)}"
                    log.info(
                        "site %s: broker %s unreachable: %s", self.site, where, failure_reason(exc)
                    )
                self._teardown()
                if connected_at is not None and (
                    self.clock.monotonic() - connected_at >= STABLE_CONNECTION_S
                ):
                    failures = 0  # it held: a fresh outage starts from the shortest wait
                failures += 1
                delay = self._backoff(failures)
                if self.stats.taken_over > taken_over:  # do not fight for the session
                    delay = max(delay, self.reconnect_max_s / 2)
                await self.clock.sleep(delay)
        finally:
            await self._close()

    def _backoff(self, failures: int) -> float:
        # Capped exponential with full jitter (edge/uplink/reconnect.py says why the cap is 30 s),
        # so 2,100 sites that lost the broker together do not all come back in one second.
        return backoff_s(failures, self.reconnect_min_s, self.reconnect_max_s, self._rng)

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
        return encode(
            SiteStatus(
                site=self.site,
                online=online,
                boot_id=self.boot_id,
                at=self.clock.now(),
                agent_version=self.agent_version,
            )
        )

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"site-{self.site}",
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        # Our outbox is the queue: we never hand paho more than it may have in flight.
        client.max_inflight_messages_set(self.inflight_limit)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(
                ca_certs=str(self.broker.ca_file),
                certfile=str(self.broker.cert_file) if self.broker.cert_file else None,
                keyfile=str(self.broker.key_file) if self.broker.key_file else None,
            )
        client.will_set(
            self.topics.site(self.site, SiteChannel.STATUS),
            self._status(False),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_socket_open = self._threadsafe(self._on_socket_open)
        client.on_socket_close = self._threadsafe(self._on_socket_close)
        client.on_socket_register_write = self._threadsafe(self._on_register_write)
        client.on_socket_unregister_write = self._threadsafe(self._on_unregister_write)
        return client

    def _threadsafe(self, fn: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            assert self._loop is not None
            if threading.get_ident() == self._loop_thread:
                fn(*args)
            else:
                self._loop.call_soon_threadsafe(fn, *args)

        return call

    async def _connect(self) -> None:
        assert self._loop is not None
        self._connected.clear()
        self._lost.clear()
        self._refusal = None
        self._client = client = self._new_client()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        async with asyncio.timeout(CONNECT_TIMEOUT_S):  # not wait_for: see edge/timing.py
            await self._loop.run_in_executor(
                None,
                lambda: client.connect(
                    self.broker.host,
                    self.broker.port,
                    keepalive=self.broker.keepalive_s,
                    clean_start=False,
                    properties=properties,
                ),
            )
        # The connect ran in another thread: make sure the socket is watched from here on.
        self._watch(client.socket())
        if client.want_write():
            client.loop_write()
        connected = asyncio.ensure_future(self._connected.wait())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait(
                {connected, lost}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            connected.cancel()
            lost.cancel()
        if not self._connected.is_set():
            # This attempt's own reason (stats.last_error still holds the previous one's).
            raise ConnectionError(
                self._refusal or f"no CONNACK from the broker in {CONNECT_TIMEOUT_S:.0f} s"
            )

    def _watch(self, sock: Any) -> None:
        if sock is None or sock is self._sock or self._loop is None:
            return
        self._sock = sock
        client = self._client
        assert client is not None
        self._loop.add_reader(sock, self._readable)
        self._spawn(self._misc())

    def _readable(self) -> None:
        if self._client is not None:
            self._client.loop_read()

    def _writable(self) -> None:
        client = self._client
        if client is None:
            return
        client.loop_write()
        # paho asks for the writer to be removed only if it had asked for it to be added on
        # this thread; a request marshalled from the connect thread can arrive after the
        # CONNECT was flushed. A writable socket with nothing to write would spin the loop.
        if not client.want_write() and self._sock is not None and self._loop is not None:
            self._loop.remove_writer(self._sock)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if client is self._client:
            self._watch(sock)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and sock is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        if sock is self._sock:
            self._sock = None
        self._lost.set()

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is None or sock is None or client is not self._client:
            return
        if client.want_write():
            self._loop.add_writer(sock, self._writable)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and sock is not None:
            self._loop.remove_writer(sock)

    async def _misc(self) -> None:
        while self._client is not None and self._sock is not None:
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost.set()
                return
            await asyncio.sleep(MISC_INTERVAL_S)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refusal = f"broker refused the connection: {reason}"
            self._lost.set()
            return
        self.stats.connects += 1
        self.stats.connected_since = self.clock.now()
        # Whatever was in flight on the old connection is published again from the outbox.
        self.stats.inflight.clear()
        client.subscribe(self.topics.site(self.site, SiteChannel.COMMANDS), qos=1)
        self._connected.set()
        self._publish(SiteChannel.STATUS, self._status(True), retain=True)
        self._publish(SiteChannel.STATE, encode(self._snapshot()), retain=True)
        self._wake.set()

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
        if threading.get_ident() != self._loop_thread and self._loop is not None:
            # A failed connect reports from the executor thread: asyncio objects are
            # touched only on the loop's own thread.
            self._loop.call_soon_threadsafe(
                self._on_disconnect, client, userdata, flags, reason, properties
            )
            return
        self.stats.disconnects += 1
        self.stats.last_error = f"disconnected: {reason}"
        if reason.value == SESSION_TAKEN_OVER:
            self.stats.taken_over += 1
            log.error(
                "site %s: the broker gave this site's session to another client with its id:"
                " is a second agent running for this site?",
                self.site,
            )
        if not self._connected.is_set():
            self._refusal = self._refusal or f"disconnected before CONNACK: {reason}"
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
        entry = self.stats.inflight.pop(mid, None)
        if entry is None:
            return
        if reason.is_failure:
            # Refused by the broker (an ACL, a size limit): the row stays and is retried;
            # the refusal is counted so diagnostics show it.
            self.stats.refused += 1
            self.stats.last_error = f"event {entry[0]} refused by the broker: {reason}"
            return
        self.stats.acked += 1
        self.store.acknowledge([entry[0]], self.clock.now())
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._spawn(self._on_command(bytes(message.payload)))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------------- publishing
    def _publish(self, channel: SiteChannel, payload: bytes, retain: bool) -> mqtt.MQTTMessageInfo:
        assert self._client is not None
        return self._client.publish(
            self.topics.site(self.site, channel), payload, qos=1, retain=retain
        )

    async def _serve(self) -> None:
        """Drain the outbox while connected; return when the connection is lost."""
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while not self._lost.is_set():
                self._drain()
                self._wake.clear()
                wake = asyncio.ensure_future(self._wake.wait())
                timer = asyncio.ensure_future(self.clock.sleep(self.republish_after_s / 4))
                try:
                    await asyncio.wait({wake, lost, timer}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    wake.cancel()
                    timer.cancel()
        finally:
            lost.cancel()

    def _drain(self) -> None:
        if self._client is None or not self.connected:
            return
        now = self.clock.monotonic()
        # A message the broker never acknowledged (lost with a connection, or dropped):
        # publish it again. Central deduplicates by (site, seq).
        stale = [
            mid
            for mid, (_, sent) in self.stats.inflight.items()
            if now - sent > self.republish_after_s
        ]
        for mid in stale:
            del self.stats.inflight[mid]
        room = self.inflight_limit - len(self.stats.inflight)
        if room <= 0:
            return
        in_flight = {seq for seq, _ in self.stats.inflight.values()}
        rows = self.store.pending(limit=room + len(in_flight))
        topic = self.topics.site(self.site, SiteChannel.EVENTS)
        for row in rows:
            if row.seq in in_flight:
                continue
            if room <= 0:
                break
            info = self._client.publish(topic, row.message, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.stats.last_error = f"publish failed: {info.rc}"
                return
            self.stats.inflight[info.mid] = (row.seq, now)
            self.stats.published += 1
            room -= 1

    # -------------------------------------------------------------------------- closing
    def _teardown(self) -> None:
        self._connected.clear()
        client, self._client = self._client, None
        sock, self._sock = self._sock, None
        if self._loop is not None and sock is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        if client is not None:
            client.on_socket_close = None
            client.on_socket_unregister_write = None
            client.on_socket_register_write = None
            # A new client is made for every connection: close this one's socket and its
            # wake-up socket pair now rather than whenever the garbage collector gets to it.
            client._reset_sockets()
        self.stats.inflight.clear()

    async def _close(self) -> None:
        self._teardown()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
