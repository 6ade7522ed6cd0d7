"""Injectable time. Every timeout and timer in lockernet reads a Clock, so the simulator can
run a network-day faster than real time and tests can step time by hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """What code that waits or stamps times needs to know about time."""

    def now(self) -> float:
        """Wall time, Unix seconds (for timestamps, expiry)."""

    def monotonic(self) -> float:
        """Seconds that only go forward (for timeouts and intervals)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Real time sped up `factor` times from `start` (the simulator's compressed day)."""

    def __init__(
        self, factor: float, start: float | None = None, origin: float | None = None
    ) -> None:
        if factor <= 0:
            raise ValueError("a clock's speed factor must be positive")
        self.factor = factor
        self._start = time.time() if start is None else start
        # time.monotonic() is one clock for every process on the machine: processes that
        # share a simulated day pass the same (start, origin) and read the same time.
        self._origin = time.monotonic() if origin is None else origin

    @property
    def anchor(self) -> tuple[float, float, float]:
        """(factor, start, origin): what another process needs to keep the same time."""
        return (self.factor, self._start, self._origin)

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self.factor

    def now(self) -> float:
        return self._start + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)


class ManualClock:
    """Time that moves only when told to (tests): `advance` wakes the sleepers it passes."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._start = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future
