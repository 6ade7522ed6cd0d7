"""Supervised tasks: every long-running task of the agent is restarted when it dies.

A bare `asyncio.ensure_future` that raises ends for good and says nothing: one SQLite error
in a scan used to leave a site deaf to its scanner while systemd's watchdog was still fed.
Here each task runs under one small loop: when it raises (or returns, which a service task
never should) the supervisor logs it, reports a fault, waits the project's restart backoff
(protocols/backoff.py: capped exponential with jitter) on the agent's clock (awaited: the
event loop goes on serving everything else) and starts it again; the fault is cleared once
the new run has lasted `stable_s`. `down()` lists the tasks not running now, so the watchdog
is fed only while every one of them is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from protocols.backoff import RESTART, Backoff, BackoffPolicy
from protocols.clock import Clock
from protocols.limits import fit_text

log = logging.getLogger(__name__)

# A restarted task that has run this long is healthy again: its fault is cleared and its
# backoff starts over. Shorter than systemd's WatchdogSec (see systemd/lockernet-edge.service).
STABLE_S = 10.0

Start = Callable[[], Awaitable[None]]
# on_fault(task name, detail): detail is why it died, or None when it runs well again.
FaultCallback = Callable[[str, str | None], None]


@dataclass
class TaskRecord:
    """What the supervisor knows of one task (diagnostics show it)."""

    name: str
    restarts: int = 0
    down_since: float | None = None  # clock.monotonic() when it died; None while running
    last_error: str | None = None
    faulted: bool = False


class Supervisor:
    """Runs named tasks and restarts each one that dies, with capped backoff."""

    def __init__(
        self,
        clock: Clock,
        on_fault: FaultCallback,
        *,
        restart_min_s: float = RESTART.min_s,
        restart_max_s: float = RESTART.max_s,
        stable_s: float = STABLE_S,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self._on_fault = on_fault
        # The restart policy's bounds (protocols.backoff.RESTART); tests shorten them.
        self.restart_min_s = restart_min_s
        self.restart_max_s = restart_max_s
        self._rng = rng
        self.stable_s = stable_s
        self.records: dict[str, TaskRecord] = {}
        self._keepers: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, start: Start) -> None:
        """Run `start()` as the task `name`, now and after every death until `stop`.

        `start` makes a fresh coroutine each time (a coroutine object cannot be awaited
        twice): pass `self._poll_forever`, not `self._poll_forever()`. Raises ValueError for
        a name already running and TypeError for a coroutine object.
        """
        if asyncio.iscoroutine(start):
            start.close()
            raise TypeError(f"task {name!r}: pass a coroutine function, not a coroutine")
        if name in self._keepers:
            raise ValueError(f"task {name!r} is already supervised")
        self.records[name] = TaskRecord(name)
        self._keepers[name] = asyncio.ensure_future(self._keep(self.records[name], start))

    def down(self) -> list[str]:
        """The tasks not running now (dead, waiting for their restart)."""
        return [r.name for r in self.records.values() if r.down_since is not None]

    def health(self) -> dict[str, dict[str, Any]]:
        """Each task by name: running now, restarts so far, why it last died."""
        return {
            r.name: {
                "running": r.down_since is None,
                "restarts": r.restarts,
                "last_error": r.last_error,
            }
            for r in self.records.values()
        }

    def alive(self) -> bool:
        return bool(self._keepers) and not self.down()

    async def wait(self) -> None:
        """Until every supervised task is stopped (they are restarted, so: until `stop`)."""
        await asyncio.gather(*self._keepers.values())

    async def stop(self, timeout_s: float) -> list[str]:
        """Cancel every task; returns the names of any that ignored it for `timeout_s`."""
        keepers = dict(self._keepers)
        self._keepers.clear()
        for keeper in keepers.values():
            keeper.cancel()
        if not keepers:
            return []
        _, stuck = await asyncio.wait(keepers.values(), timeout=timeout_s)
        return [name for name, keeper in keepers.items() if keeper in stuck]

    async def _keep(self, record: TaskRecord, start: Start) -> None:
        backoff = Backoff(BackoffPolicy(self.restart_min_s, self.restart_max_s), self._rng)
        while True:
            task = asyncio.ensure_future(start())
            try:
                if record.faulted and await self._lasts(task):
                    record.faulted = False
                    backoff.succeeded()
                    log.info("task %s runs again after %d restarts", record.name, record.restarts)
                    self._report(record.name, None)
                await task
                wait_s = backoff.failed()
                detail = "it returned (a service task never ends on its own)"
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is None or current.cancelling():  # the keeper is being stopped
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    raise
                # Nobody cancelled the keeper: the task ended cancelled on its own (a future
                # it awaited was cancelled under it, as a closed transport does). Re-raising
                # would end the keeper for good with the task counted alive, and the
                # watchdog fed for a dead task: it is a death like any other.
                wait_s = backoff.failed()
                detail = "CancelledError: it was cancelled from within"
                log.error(
                    "task %s was cancelled from within; restarting in %.1f s", record.name, wait_s
                )
            except Exception as exc:  # any death is restarted, and reported
                wait_s = backoff.failed()
                detail = f"{type(exc).__name__}: {exc}"
                log.error("task %s died; restarting in %.1f s", record.name, wait_s, exc_info=exc)
            record.down_since = self.clock.monotonic()
            record.last_error = fit_text(detail)  # it goes out as a fault's detail
            record.restarts += 1
            if not record.faulted:
                record.faulted = True
                self._report(record.name, record.last_error)
            await self.clock.sleep(wait_s)
            record.down_since = None

    def _report(self, name: str, detail: str | None) -> None:
        # The report is the agent's (it may write the store, which may be the thing that
        # fails): its failure is logged, and must neither kill the keeper nor pass for the
        # death of the task it reports on.
        try:
            self._on_fault(name, detail)
        except Exception:
            log.exception("task %s: its fault could not be reported", name)

    async def _lasts(self, task: asyncio.Task[None]) -> bool:
        """True once `task` has run `stable_s` on the clock; False if it ended before."""
        timer = asyncio.ensure_future(self.clock.sleep(self.stable_s))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return not task.done()
