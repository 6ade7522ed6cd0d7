"""The site's events to the broker: the outbox in the store is the buffer, not paho's queue.

Rows are published in sequence order at QoS 1 with at most `inflight_limit` unacknowledged,
and leave the outbox only on the broker's PUBACK. A row the broker never acknowledged (lost
with a connection, or dropped) is published again after `republish_after_s`; central
deduplicates by (site, seq).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge.store.sqlite import Store
from protocols.clock import Clock

# MQTT 5 PUBACK reason 0x10 "No matching subscribers" (MQTT 5.0 §3.4.2.1): the broker took
# the event and handed it to nobody. Central's subscription is not in place: a broker that
# restarted and lost it (Mosquitto keeps a session's shared subscription only until its own
# restart), or central never yet subscribed there. Dropped, the event would come back only
# through central's resend request; kept, it goes again with the next drain.
NO_MATCHING_SUBSCRIBERS = 0x10


@dataclass
class LinkStats:
    """What the uplink has done since the agent started (diagnostics show it)."""

    connects: int = 0
    disconnects: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    unheard: int = 0  # PUBACKs that said no one subscribes: the row stays for later
    taken_over: int = 0  # sessions the broker gave to another client with our id
    last_error: str | None = None
    connected_since: float | None = None
    inflight: dict[int, tuple[int, float]] = field(default_factory=dict)  # mid -> (seq, sent)

    def counters(self) -> dict[str, Any]:
        """The counts and the last error, as diagnostics show them."""
        return {
            "connects": self.connects,
            "disconnects": self.disconnects,
            "published": self.published,
            "acked": self.acked,
            "refused": self.refused,
            "unheard": self.unheard,
            "last_error": self.last_error,
        }


class OutboxPublisher:
    """Publishes a store's outbox on one topic and acknowledges rows the broker took."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        stats: LinkStats,
        *,
        inflight_limit: int,
        republish_after_s: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.stats = stats
        self.inflight_limit = inflight_limit
        self.republish_after_s = republish_after_s
        # Set when the outbox has news (new rows, an acknowledgement freed room): drain now
        # rather than at the next timer.
        self.wake = asyncio.Event()

    def forget_inflight(self) -> None:
        """The connection is gone: whatever was in flight is published again from the outbox."""
        self.stats.inflight.clear()

    async def serve(self, client: mqtt.Client, topic: str, lost: asyncio.Event) -> None:
        """Drain the outbox through `client` until `lost` is set (the connection is gone)."""
        lost_wait = asyncio.ensure_future(lost.wait())
        try:
            while not lost.is_set():
                self.drain(client, topic)
                self.wake.clear()
                wake = asyncio.ensure_future(self.wake.wait())
                timer = asyncio.ensure_future(self.clock.sleep(self.republish_after_s / 4))
                try:
                    await asyncio.wait(
                        {wake, lost_wait, timer}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    wake.cancel()
                    timer.cancel()
        finally:
            lost_wait.cancel()

    def drain(self, client: mqtt.Client, topic: str) -> None:
        """Publish the outbox's next rows, as many as may be in flight."""
        now = self.clock.monotonic()
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
        for row in rows:
            if row.seq in in_flight:
                continue
            if room <= 0:
                break
            info = client.publish(topic, row.message, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.stats.last_error = f"publish failed: {info.rc}"
                return
            self.stats.inflight[info.mid] = (row.seq, now)
            self.stats.published += 1
            room -= 1

    def acknowledged(self, mid: int, reason: ReasonCode) -> None:
        """The broker answered publish `mid` (paho's on_publish): the row leaves the outbox,
        or, refused, stays to be tried again."""
        entry = self.stats.inflight.pop(mid, None)
        if entry is None:
            return
        if reason.is_failure:
            # Refused by the broker (an ACL, a size limit): the row stays and is retried;
            # the refusal is counted so diagnostics show it.
            self.stats.refused += 1
            self.stats.last_error = f"event {entry[0]} refused by the broker: {reason}"
            return
        if reason.value == NO_MATCHING_SUBSCRIBERS:
            self.stats.unheard += 1
            self.stats.last_error = f"event {entry[0]}: the broker has no subscriber for it yet"
            # Kept as in flight since it was sent: it goes again once `republish_after_s` has
            # passed, not with every drain (central may be away for longer than its session,
            # and each site resending its backlog on every new event would flood the broker).
            self.stats.inflight[mid] = entry
            return
        self.stats.acked += 1
        self.store.acknowledge([entry[0]], self.clock.now())
        self.wake.set()
