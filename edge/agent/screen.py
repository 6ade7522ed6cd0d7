"""The site's screen: what it showed for each recent scan (the door opened, or why not)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

SCREEN_LINES = 16
# What the screen says when a scan's record could not be written (disk full, I/O error).
STORE_REFUSAL = "out of order: try again later"


@dataclass(frozen=True)
class ScreenLine:
    """What the screen showed for one scan: the door it opened for the code, if any."""

    code: str
    slot: str | None
    refusal: str | None = None  # why nothing opened, when it is not the person's scan


class Screen:
    """The latest SCREEN_LINES answers, and how many scans were dealt with."""

    def __init__(self) -> None:
        self.lines: deque[ScreenLine] = deque(maxlen=SCREEN_LINES)
        self.handled = 0
        self.latencies_ms: deque[float] = deque(maxlen=10_000)
        self._changed = asyncio.Event()  # set, and replaced, as each scan is dealt with

    def show(self, line: ScreenLine, latency_ms: float) -> None:
        """One scan dealt with in `latency_ms`: its line goes up."""
        self.lines.append(line)
        self.latencies_ms.append(latency_ms)
        self.handled += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def answer(self, code: str, after: int | None = None) -> ScreenLine | None:
        """The line for the latest scan of `code`; with `after`, only among scans dealt
        with once `handled` had passed that count (None: not answered yet)."""
        lines = list(self.lines)
        if after is not None:
            new = min(self.handled - after, len(lines))
            lines = lines[len(lines) - new :] if new > 0 else []
        return next((line for line in reversed(lines) if line.code == code), None)

    async def wait_handled(self, count: int, timeout_s: float) -> bool:
        """Wait, up to `timeout_s` real seconds, until more than `count` scans were dealt
        with: what a person watching the screen waits for. False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.handled <= count:
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True
