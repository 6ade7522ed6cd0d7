"""Durable follow-up work: the effects outside the store (a consumer told, a site commanded).

Applying an event writes the task in the same transaction as the event itself, so a crash
can lose neither. Any central process runs due tasks: it claims them with a lease, so two
processes never run one at once, and a process that died mid-task is taken over when the
lease runs out (a task may therefore run twice: every handler is safe to repeat).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from central.errors import CentralError
from central.store import CentralStore, TaskRecord
from central.store.records import TaskKind as TaskKind  # noqa: PLC0414 - re-exported: callers know it here
from protocols.errors import ProtocolError

log = logging.getLogger(__name__)

# A failed task is retried after 5 s, doubling up to an hour.
RETRY_FIRST_S = 5.0
RETRY_MAX_S = 3600.0
CLAIM_BATCH = 200
# The share of a claim's lease in which this process still starts a kind's tasks.
LEASE_USABLE = 0.5


class TaskFailed(CentralError):
    """A task that could not be done now and should be retried later."""


Handler = Callable[[list[TaskRecord], float], None]


@dataclass
class TaskRunner:
    """Runs due tasks with the handler registered for their kind.

    A handler gets every due task of its kind at once (so expiries at one site become one
    command) and marks each done itself, in the transaction that records its effect.
    A handler that raises leaves its unfinished tasks to be retried with backoff.
    """

    store: CentralStore
    owner: str
    lease_s: float
    handlers: Mapping[str, Handler]

    def run_due(self, now: float) -> int:
        """Claim up to CLAIM_BATCH due tasks and run them; returns how many were claimed."""
        with self.store.transaction() as session:
            claimed = session.claim_tasks(now, self.owner, now + self.lease_s, CLAIM_BATCH)
        # Past this the lease is too near its end to start more: another process may take
        # the rest over as soon as it runs out, and a task must never run in two at once.
        deadline = time.monotonic() + self.lease_s * LEASE_USABLE
        by_kind: dict[str, list[TaskRecord]] = {}
        for task in claimed:
            by_kind.setdefault(task.kind, []).append(task)
        for kind, tasks in by_kind.items():
            if time.monotonic() > deadline:
                log.warning(
                    "lease nearly over: %s %s task(s) left to a later claim", len(tasks), kind
                )
                continue
            handler = self.handlers.get(kind)
            if handler is None:
                self._retry(tasks, now, f"no handler for task kind {kind!r} in this process")
                continue
            try:
                handler(tasks, now)
            except (CentralError, ProtocolError, OSError, ValueError) as exc:
                log.warning("%s task(s) of kind %s failed: %s", len(tasks), kind, exc)
                self._retry(tasks, now, str(exc))
        return len(claimed)

    def _retry(self, tasks: list[TaskRecord], now: float, error: str) -> None:
        with self.store.transaction() as session:
            for task in tasks:
                if task.id is None:
                    continue
                delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, task.attempts - 1))
                session.retry_task(task.id, now + delay, error)
