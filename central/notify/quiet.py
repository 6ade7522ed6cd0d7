"""Quiet hours: no message reaches a consumer at night; one made then is due in the morning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from protocols.localtime import NETWORK_ZONE, local_datetime


@dataclass(frozen=True)
class QuietHours:
    """The night, in the network's local time: from `start` to `end` (crossing midnight
    when start > end). start == end: no quiet hours."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def is_quiet(self, at: float) -> bool:
        """True if `at` (Unix s) falls in the quiet hours."""
        clock = local_datetime(at).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def next_allowed(self, at: float) -> float:
        """`at` (Unix s) itself outside the quiet hours, else the next `end` (Unix s)."""
        if not self.is_quiet(at):
            return at
        local = local_datetime(at)
        morning = datetime.combine(local.date(), self.end, NETWORK_ZONE)
        if morning.timestamp() <= at:
            morning += timedelta(days=1)
        return morning.timestamp()


DEFAULT_QUIET_HOURS = QuietHours()


def parse_quiet_hours(text: str) -> QuietHours:
    """ "21:00-08:00" -> QuietHours; "" or "none": no quiet hours. Raises ValueError naming
    the text when it is not HH:MM-HH:MM."""
    if text.strip().lower() in ("", "none"):
        return QuietHours(time(0, 0), time(0, 0))
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM, e.g. 21:00-08:00") from exc
    return QuietHours(start, end)
