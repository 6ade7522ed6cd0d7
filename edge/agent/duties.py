"""The shell's time-driven duties and its parts' faults (decisions: edge/site/timers.py and
edge/site/faults.py): each tick, lapsed reservations, doors left open, pruning, the clock."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from edge.agent.runner import ActionRunner
from edge.site import faults, timers
from edge.site.actions import ForgetExpected
from edge.site.clock_guard import PERSIST_EVERY_S, ClockGuard, save_witness
from edge.store.sqlite import StoreUnavailable
from protocols.messages import ScannerFaultCode

log = logging.getLogger(__name__)


class Duties:
    """What the site does on its own: the timers' ticks, and its parts' faults."""

    def __init__(self, runner: ActionRunner, clock: ClockGuard, sent_retention_s: float) -> None:
        self.runner = runner
        self.rules = runner.rules
        self.state = runner.state
        self.store = runner.store
        self.clock = clock
        self.sent_retention_s = sent_retention_s
        self._last_prune = clock.monotonic()
        self._removals_swept = False  # the first tick clears what an older agent left
        self._clock_saved = clock.monotonic()

    async def run(self, interval_s: float, tick: Callable[[], None]) -> None:
        """Call `tick` (the agent's, normally `self.tick`) every `interval_s`: a supervised
        task."""
        while True:
            await self.clock.sleep(interval_s)
            try:
                tick()
            except StoreUnavailable as exc:  # the duties are tried again at the next tick
                log.error("site %s: timers could not write: %s", self.rules.site, exc)
            self.store_fault()

    def tick(self) -> None:
        """Time-driven duties: lapsed reservations, doors left open, pruning."""
        now, now_m = self.clock.now(), self.clock.monotonic()
        # What lapses (reservations, remembered nonces, sent rows) goes by the time the site
        # can prove: a wall clock stepped days ahead must not lapse what central still keeps.
        proven = self.clock.proven()
        actions = self.runner.run(
            lambda records: timers.tick(self.rules, self.state, records, proven, now_m),
            now,
            atomic=False,
        )
        pruning = now_m - self._last_prune > timers.PRUNE_EVERY_S
        if pruning:
            self._last_prune = now_m
            self.store.prune(proven - self.sent_retention_s)
        lapsed = any(isinstance(a, ForgetExpected) for a in actions)
        sweep = timers.sweep_due(lapsed, pruning, self._removals_swept)
        if sweep:
            self._removals_swept = True
            self.runner.apply(sweep, now)
        self.watch_clock()
        # Here, between inputs, rather than inside a scan's commit (edge/store/sqlite.py).
        self.store.checkpoint_if_due()

    def watch_clock(self) -> None:
        """Save the witnessed time now and then; say so while the wall clock is unsure."""
        guard = self.clock
        if guard.monotonic() - self._clock_saved > PERSIST_EVERY_S:
            self._clock_saved = guard.monotonic()
            save_witness(self.store, guard)
        now = guard.now()
        changes = timers.clock_fault(guard.unsure, guard.offset(), self.state, now)
        if changes and guard.unsure:
            log.warning(
                "site %s: wall clock %+.0f s from its evidence", self.rules.site, guard.offset()
            )
        self.runner.apply(changes, now)

    def task_fault(self, name: str, detail: str | None) -> None:
        """The supervisor's hook: a task died (`detail`) or runs again (None)."""
        now = self.clock.now()
        self.runner.apply(faults.task_fault(name, detail, self.state, now), now)

    def store_fault(self) -> None:
        """Raise the store fault while writes fail; clear it once a write proves the store
        works again (the FaultCleared event is that write, tried at each tick)."""
        now = self.clock.now()
        with contextlib.suppress(StoreUnavailable):  # still failing: the fault stays
            self.runner.apply(faults.store_fault(self.store.failure, self.state, now), now)

    def scanner_fault(self, code: ScannerFaultCode, faulty: bool, detail: str) -> None:
        """The scanner reader's hook."""
        now = self.clock.now()
        try:
            changes = faults.scanner_fault(code, faulty, detail, self.state, now)
            self.runner.apply(changes, now, keep_state=True)
        except StoreUnavailable:
            # The reader goes on; the fault stands in the snapshot, and the store's says why.
            self.store_fault()
