"""A site's wall clock that can be wrong: the field fault "a clock at 1970 or stepped".

A Raspberry Pi has no real-time clock. It boots at 1970 (or at the time fake-hwclock saved
before it went down) and keeps that until NTP answers, which an offline site's never does;
a bad NTP server or an operator's `date -s` steps it hours or days at a time. `WrongClock`
wraps the clock a site's agent is given (protocols.clock.Clock) and lets the simulator or a
test set its wall time at run time. Only the wall time (`now`) goes wrong: monotonic time
and sleeping are the kernel's, which no wall-clock step moves, exactly as on a Pi.

To play it on one site of a simulated day: give that site's `SiteAgent` a
`WrongClock(day_clock)` as its `clock`, then call `boot_at_1970()` (before starting a new
agent on the same store, as after a reboot), `step(seconds)` (ahead or back, while it runs)
and `reset()` to put it right.
"""

from __future__ import annotations

from protocols.clock import Clock

# Where a Pi without a real-time clock starts: 1970-01-01T00:00:00Z plus its uptime.
EPOCH_1970 = 0.0


class WrongClock:
    """A `Clock` whose wall time is the wrapped clock's plus an offset that can be changed."""

    def __init__(self, inner: Clock) -> None:
        self.inner = inner
        self._offset = 0.0

    @property
    def offset(self) -> float:
        """Seconds this clock's wall time is ahead of the true time (negative: behind)."""
        return self._offset

    def now(self) -> float:
        return self.inner.now() + self._offset

    def monotonic(self) -> float:
        return self.inner.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)

    # ------------------------------------------------------------------- the fault's switches
    def boot_at_1970(self) -> None:
        """The wall clock reads 1970 from now on, counting up (a Pi booted with no RTC)."""
        self.set_to(EPOCH_1970)

    def set_to(self, wall: float) -> None:
        """The wall clock reads `wall` (Unix seconds) now, and runs on from there."""
        self._offset = wall - self.inner.now()

    def step(self, seconds: float) -> None:
        """Step the wall clock by `seconds` (positive: ahead, e.g. 4 * 86400; negative: back)."""
        self._offset += seconds

    def reset(self) -> None:
        """The wall clock is right again (NTP answered)."""
        self._offset = 0.0
