"""Time is evidence, not truth: the site's trusted "now" from its wall clock and what it witnessed.

A Raspberry Pi has no real-time clock: it boots at 1970 or at the time it last saved, and an
offline site has no NTP to correct it; a clock can also be stepped hours or days ahead. So the
agent never takes its wall clock alone for a decision. `ClockGuard` keeps a *witnessed* time:
the latest time the site has evidence of (its own store's record of it, the signed `issued_at`
of every command whose signature verified), carried forward by the monotonic clock, which a
wall-clock step does not move. Two readings follow:

- `now()`: max(wall clock, witnessed). For expiry, revocation, replay and every timestamp the
  site writes: a clock at 1970 can never make an expired code or command valid again.
- `proven()`: the witnessed time alone. For what *lapses* (reservations, remembered command
  nonces, sent outbox rows): a wall clock stepped days ahead for a few seconds must not lapse
  what central still keeps.

The wall clock is taken in as evidence only while it stays within `WALL_ACCEPT_S` of the
witnessed time (NTP's small corrections, a quick reboot); beyond that the clock is *unsure*,
which the agent reports (a fault and a flag in its snapshot) until a witnessed time agrees.
Central's signed times are bounded the same way: one far ahead of a sure clock is taken in
only once a later one confirms it (`witness`), since the witnessed time is never lowered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from protocols.clock import Clock

log = logging.getLogger(__name__)

# A wall clock this far from the witnessed time is unsure, and is not taken in as evidence.
# Two minutes: NTP steps and a Pi's reboot (~1 min of monotonic time not counted) stay within
# it; a clock at 1970, a stale saved time or a step of hours or days does not.
WALL_ACCEPT_S = 120.0
# The store's meta key under which the witnessed time survives a restart (edge store, meta).
META_KEY = "witnessed_time"
# At start-up, a wall clock up to this far ahead of the saved evidence is taken in as evidence
# (an hour: reboots, updates, power cuts of minutes, and a kill -9 that lost the last
# PERSIST_EVERY_S of evidence); beyond it what lapses waits for a signed time (see __init__).
# A clock wrong ahead by less lapses reservations (held for days) that much early at most.
BOOT_AHEAD_ACCEPT_S = 3600.0
# A signed time further than this ahead of the trusted now, while the site's own clock is
# sure (its wall clock agrees with its evidence), is not taken in on its own word. Central's
# clock can be wrong too (stepped a day ahead for a minute): one command it signed then would
# drag every site's witnessed time, which is never lowered and is saved, a day ahead, and every
# pickup code would then look expired and every reservation lapse. Same bound as the wall's.
WITNESS_LEAP_S = WALL_ACCEPT_S
# Such a leap is taken in once a second signed time, received at least this much monotonic
# time after the first, agrees with it (the same offset from the site's clock, within
# LEAP_AGREE_S): a central whose clock is consistently ahead, or a site whose wall clock and
# store are both stale (fake-hwclock after days off), not a moment's glitch or a burst of
# commands from it. Shorter than central's time-send interval (liveness.time_send_interval_s,
# 60 s), so a stale site is put right by central's second signed time.
LEAP_CONFIRM_AFTER_S = 30.0
LEAP_AGREE_S = 10.0
# ...or within this share of the time between them, whichever is more: delivery jitter is
# counted in the clock's own seconds, which a compressed simulated day multiplies.
LEAP_AGREE_SHARE = 0.1
# Before this (2025-01-01 UTC, older than this software) a trusted now is no evidence at all:
# a Pi at 1970 on a new store takes central's first signed time at once.
PLAUSIBLE_FROM = 1_735_689_600.0
# How often (monotonic seconds) the agent saves the witnessed time: a crash loses at most
# this much evidence, and a site writes one small transaction per interval, not per tick.
PERSIST_EVERY_S = 300.0


class ClockGuard:
    """The agent's clock: a `Clock` whose `now()` is never below what the site witnessed.

    `monotonic()` and `sleep()` are the wrapped clock's own (intervals need no evidence).
    Pure apart from reading the wrapped clock: the agent persists `witnessed_floor()` itself.
    """

    def __init__(self, clock: Clock, witnessed: float | None = None) -> None:
        """`witnessed`: the latest time the site had evidence of before this start (Unix
        seconds, from the store), or None for a new store (then the wall clock is all there is).

        At start-up a wall clock *ahead* of the saved evidence is taken in up to
        BOOT_AHEAD_ACCEPT_S: the agent was down for a while (a reboot, a power cut), and a Pi
        that lost its time boots behind (1970, or fake-hwclock's saved time). Further ahead it
        is a long downtime or a wrong clock (an RTC set wrong, a bad NTP answer before the
        agent started), which only evidence can tell apart: it still counts for expiry
        (`now()`), but not for what lapses, and the clock is unsure until a signed time
        arrives. A wall clock behind the evidence is never taken in."""
        self.raw = clock
        wall = clock.now()
        if witnessed is None:
            self._floor = wall
        elif wall - float(witnessed) > BOOT_AHEAD_ACCEPT_S:
            # Taken in unbounded, a clock four days ahead at boot lapsed every reservation at
            # the first tick (the mirror of issue 11 kind 3's input, a step while running).
            self._floor = float(witnessed)
        else:
            self._floor = max(float(witnessed), wall)
        self._floor_at = clock.monotonic()
        # A signed time far ahead not yet confirmed: (its time, monotonic when received).
        self._leap: tuple[float, float] | None = None

    # ------------------------------------------------------------------ the Clock protocol
    def now(self) -> float:
        """Trusted wall time, Unix seconds: max(wall clock, witnessed time)."""
        wall = self.raw.now()
        proven = self.proven()
        if self._take_wall(wall, proven):
            return wall  # the witnessed time is the wall clock's from now
        return max(wall, proven)

    def monotonic(self) -> float:
        return self.raw.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self.raw.sleep(seconds)

    # ---------------------------------------------------------------------- the evidence
    def proven(self) -> float:
        """The latest time the site can prove (Unix seconds): the witnessed time carried
        forward by monotonic time. Never moved by a wall-clock step."""
        return self._floor + (self.raw.monotonic() - self._floor_at)

    def witness(self, at: float) -> float:
        """Evidence that it is at least `at` (a verified signed time, Unix seconds): raise the
        witnessed time to it. Returns the trusted `now()` after taking it in.

        A time more than WITNESS_LEAP_S ahead of a sure clock is a leap: taken in only once a
        later signed time confirms it (LEAP_CONFIRM_AFTER_S); until then nothing moves and the
        caller checks `at` against the unchanged now (a command from the future is then
        refused as not yet valid)."""
        now = self.now()
        leap = at > now + WITNESS_LEAP_S and now >= PLAUSIBLE_FROM and not self.unsure
        if leap and not self._confirms(float(at)):
            log.warning(
                "signed time %.0f is %.0f s ahead of the site's sure clock: not taken in "
                "until a later signed time confirms it",
                at,
                at - now,
            )
            return now
        if at > self.proven():
            self._floor, self._floor_at = float(at), self.raw.monotonic()
        return self.now()

    def _confirms(self, at: float) -> bool:
        """Whether the leap to `at` agrees with a pending one received long enough before;
        otherwise `at` becomes the pending leap (unless it agrees with one still too recent)."""
        received = self.raw.monotonic()
        pending = self._leap
        if pending is not None:
            first_at, first_received = pending
            gap = received - first_received
            tolerance = max(LEAP_AGREE_S, LEAP_AGREE_SHARE * gap)
            agree = abs((at - first_at) - gap) <= tolerance
            if agree and gap >= LEAP_CONFIRM_AFTER_S:
                self._leap = None
                return True
            if agree:
                return False  # the same offset again, too soon: wait for a later one
        self._leap = (at, received)
        return False

    def witnessed_floor(self) -> float:
        """What to persist: the witnessed time now (Unix seconds)."""
        return self.proven()

    @property
    def unsure(self) -> bool:
        """True while the wall clock disagrees with the witnessed time by more than
        WALL_ACCEPT_S (behind: 1970, a stale time; ahead: a step no evidence confirms)."""
        return abs(self.raw.now() - self.proven()) > WALL_ACCEPT_S

    def offset(self) -> float:
        """Wall clock minus witnessed time, seconds (negative: the wall clock is behind)."""
        return self.raw.now() - self.proven()

    def _take_wall(self, wall: float, proven: float) -> bool:
        # A wall clock a little ahead of the evidence is most likely right (the witnessed time
        # lags across a reboot, and drifts with the crystal): take it in. Far ahead, it is a
        # step no evidence confirms: keep it out of what lapses, and call the clock unsure.
        ahead = wall - proven
        if 0 < ahead <= WALL_ACCEPT_S:
            self._floor, self._floor_at = wall, self.raw.monotonic()
            return True
        return False


class WitnessStore(Protocol):
    """Where the witnessed time is kept (edge.store.sqlite.Store: its `meta` table)."""

    @property
    def path(self) -> Path: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def latest_record_time(self) -> float | None: ...


def saved_witness(store: WitnessStore) -> float | None:
    """The witnessed time a store holds (its `meta` entry; for a store written before there
    was one, its newest event's time), Unix seconds; None for a new store."""
    saved = store.get_meta(META_KEY)
    if saved is not None:
        try:
            return float(saved)
        except ValueError:
            log.error("%s: meta %s is %r, not a time: ignored", store.path, META_KEY, saved)
    return store.latest_record_time()


def save_witness(store: WitnessStore, guard: ClockGuard) -> None:
    """Save the guard's witnessed time in the store (never lowers what is saved)."""
    saved = saved_witness(store) or 0.0
    store.set_meta(META_KEY, repr(max(saved, guard.witnessed_floor())))
