"""The network's local time, for every time a person reads (messages, reports, summaries).

Stored and sent times stay Unix seconds (UTC); only what is shown to a consumer, a technician
or an operator is turned into the network's wall-clock time here, in one place. The network
runs in Singapore (no daylight saving: UTC+8 all year).
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

NETWORK_ZONE = ZoneInfo("Asia/Singapore")
# tzdata calls Singapore's zone "+08"; people there say SGT.
ZONE_LABEL = "SGT"


def local_datetime(at: float) -> datetime:
    """`at` (Unix seconds) as an aware datetime in the network's zone."""
    return datetime.fromtimestamp(at, NETWORK_ZONE)


def day_and_time(at: float) -> str:
    """`at` (Unix seconds) as a consumer reads it: "Mon 30 Nov 18:00 SGT"."""
    return local_datetime(at).strftime(f"%a %d %b %H:%M {ZONE_LABEL}")


def timestamp(at: float) -> str:
    """`at` (Unix seconds) as a technician reads it, with the year and seconds (a clock
    that is years off shows it): "2026-11-30 18:00:05 SGT"."""
    return local_datetime(at).strftime(f"%Y-%m-%d %H:%M:%S {ZONE_LABEL}")


def local_midnight(at: float) -> float:
    """The start (Unix seconds) of the network's local day that holds `at` (Unix seconds)."""
    return datetime.combine(local_datetime(at).date(), time(0, 0), NETWORK_ZONE).timestamp()
