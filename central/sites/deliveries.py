"""A batch of messages from sites, as the broker delivered them, sorted by kind and checked.

Decoding never raises: a message that does not decode, or names another site than the topic
it came on, is counted as rejected and logged, because it must be acknowledged like the rest
(or the broker would deliver it forever).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.errors import MessageError, ProtocolError
from protocols.messages import Event, Heartbeat, Reply, SiteStatus, StateSnapshot, decode
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    # A retained message the broker replayed on subscription (not published just now): a
    # replayed status is not evidence that its site is alive (central/sites/liveness.py).
    retained: bool = False
    # When central's network thread took it (central's clock), if known: a heartbeat's
    # clock offset is measured against this, not against the later batch commit.
    received_at: float | None = None


@dataclass
class ParsedBatch:
    """A batch's well-formed messages by kind, and how many were rejected."""

    # site -> (event, its JSON as received), in the order they came
    events: dict[str, list[tuple[Event, str]]] = field(default_factory=lambda: defaultdict(list))
    statuses: list[tuple[SiteStatus, bool]] = field(default_factory=list)  # (status, live)
    heartbeats: list[tuple[Heartbeat, float | None]] = field(default_factory=list)
    heard: set[str] = field(default_factory=set)  # sites heard live in this batch
    snapshots: list[tuple[StateSnapshot, bool]] = field(default_factory=list)  # (state, live)
    replies: list[Reply] = field(default_factory=list)
    rejected: int = 0


def parse_deliveries(topics: Topics, batch: Sequence[Delivery]) -> ParsedBatch:
    """Decode each delivery by its topic's channel; bad ones are counted in `rejected`."""
    parsed = ParsedBatch()
    for delivery in batch:
        try:
            site, channel = topics.parse_site_topic(delivery.topic)
            if channel is SiteChannel.EVENTS:
                event = decode(Event, delivery.payload)
                _same_site(site, event.site, delivery.topic)
                parsed.events[site].append((event, delivery.payload.decode()))
            elif channel is SiteChannel.STATUS:
                if not delivery.payload:
                    continue  # a retained status being deleted
                status = decode(SiteStatus, delivery.payload)
                _same_site(site, status.site, delivery.topic)
                parsed.statuses.append((status, not delivery.retained))
            elif channel is SiteChannel.STATE:
                if not delivery.payload:
                    continue
                snapshot = decode(StateSnapshot, delivery.payload)
                _same_site(site, snapshot.site, delivery.topic)
                parsed.snapshots.append((snapshot, not delivery.retained))
            elif channel is SiteChannel.REPLIES:
                reply = decode(Reply, delivery.payload)
                _same_site(site, reply.site, delivery.topic)
                parsed.replies.append(reply)
            elif channel is SiteChannel.HEARTBEAT:
                beat = decode(Heartbeat, delivery.payload)
                _same_site(site, beat.site, delivery.topic)
                parsed.heartbeats.append((beat, delivery.received_at))
            if channel is not SiteChannel.STATUS and not delivery.retained:
                parsed.heard.add(site)
            # Anything else (our own commands, under a broad subscription) is not ours.
        except (ProtocolError, UnicodeDecodeError) as exc:
            parsed.rejected += 1
            log.warning("rejected message on %s: %s", delivery.topic, exc)
    return parsed


def _same_site(topic_site: str, message_site: str, topic: str) -> None:
    # The broker's ACL lets a site publish only under its own topic; a message naming
    # another site is refused rather than believed.
    if topic_site != message_site:
        raise MessageError(f"message on {topic} claims to be from site {message_site}")
