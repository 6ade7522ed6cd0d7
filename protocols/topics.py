"""MQTT topics: one versioned root, one subtree per site, and central's own status.

lockernet/v1/central/status            retained; central's last will sets it offline
lockernet/v1/sites/{site}/status       retained; the site's last will sets it offline
lockernet/v1/sites/{site}/state        retained full-state snapshot, on every (re)connect
lockernet/v1/sites/{site}/events       QoS 1 event stream, site -> central
lockernet/v1/sites/{site}/commands     QoS 1 signed commands, central -> site, with expiry
lockernet/v1/sites/{site}/replies      QoS 1 replies, correlated by command id
lockernet/v1/sites/{site}/heartbeat    QoS 0 liveness every few seconds, never retained
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from protocols.errors import MessageError

DEFAULT_ROOT = "lockernet/v1"
# Site ids are topic levels: no MQTT wildcards or separators, short enough for a label.
SITE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
_SITE_ID = re.compile(SITE_ID_PATTERN)
CENTRAL_SHARE_GROUP = "central"


class SiteChannel(enum.StrEnum):
    STATUS = "status"
    STATE = "state"
    EVENTS = "events"
    COMMANDS = "commands"
    REPLIES = "replies"
    HEARTBEAT = "heartbeat"


def check_site_id(site: str) -> str:
    if not isinstance(site, str) or not _SITE_ID.fullmatch(site):  # $ allows a final \n
        raise MessageError(
            f"site id {site!r} must be 1-32 letters, digits, '-' or '_', starting alphanumeric"
        )
    return site


@dataclass(frozen=True)
class Topics:
    """Builds and parses topics under one root (tests give each run a root of its own)."""

    root: str = DEFAULT_ROOT

    def site(self, site: str, channel: SiteChannel) -> str:
        return f"{self.root}/sites/{check_site_id(site)}/{channel.value}"

    def central_status(self) -> str:
        return f"{self.root}/central/status"

    def all_sites(self, channel: SiteChannel) -> str:
        """The wildcard filter for one channel of every site."""
        return f"{self.root}/sites/+/{channel.value}"

    def shared_events(self, group: str = CENTRAL_SHARE_GROUP) -> str:
        """The shared subscription central's processes split the event stream with."""
        return f"$share/{group}/{self.all_sites(SiteChannel.EVENTS)}"

    def parse_site_topic(self, topic: str) -> tuple[str, SiteChannel]:
        """(site id, channel) of a site topic; MessageError for anything else."""
        prefix = f"{self.root}/sites/"
        if not topic.startswith(prefix):
            raise MessageError(f"topic {topic!r} is not under {prefix}")
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 2:
            raise MessageError(f"topic {topic!r} is not {prefix}<site>/<channel>")
        site, channel = parts
        try:
            return check_site_id(site), SiteChannel(channel)
        except ValueError:
            raise MessageError(f"topic {topic!r} names no known channel") from None
