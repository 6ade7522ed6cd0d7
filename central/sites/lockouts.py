"""A site's scanner locked out after too many bad codes, and the refused scans behind it.

A `scanner_locked_out` event raises the SCANNER_LOCKED_OUT alarm (ref "scanner"; the detail
says how many refusals and until when, in the network's local time) and queues an END_LOCKOUT
task due at the lockout's `until`: the site says nothing when a lockout ends, so central's
task runner clears the alarm then. The task clears only the alarm its own lockout raised: a
newer lockout replaced it (a new alarm with the new `until`) and keeps it open until its own
end. `scan_refused` events are counted by site and reason (scan_refusals), in the ingest
transaction, so a duplicate delivery, which ingest drops by event id, counts once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from central.sites.alarms import AlarmKind, clear_alarm, raise_alarm
from central.store import CentralStore, StoreSession, TaskRecord
from central.store.records import TaskKind
from protocols.localtime import timestamp
from protocols.messages import Event, ScannerLockedOut, ScanRefused

LOCKOUT_REF = "scanner"


def scanner_locked_out(
    session: StoreSession, event: Event, payload: ScannerLockedOut, source: str
) -> None:
    """Raise the lockout's alarm (replacing an open one of an earlier lockout) and queue its
    end at `payload.until` (Unix seconds, the site's clock)."""
    kind = AlarmKind.SCANNER_LOCKED_OUT
    clear_alarm(session, event.site, kind, event.at, LOCKOUT_REF)
    raise_alarm(
        session,
        event.site,
        kind,
        event.at,
        ref=LOCKOUT_REF,
        detail=f"{payload.failures} refused scans: scanner locked until {timestamp(payload.until)}",
        source=source,
    )
    session.add_task(
        TaskRecord(
            TaskKind.END_LOCKOUT,
            payload.until,
            site=event.site,
            payload=json.dumps({"opened_at": event.at}),
        )
    )


def scan_refused(session: StoreSession, event: Event, payload: ScanRefused) -> None:
    """Count one refused scan by its site and reason, keeping the newest detail."""
    session.count_refusal(event.site, payload.reason.value, event.at, payload.detail)


@dataclass(frozen=True)
class LockoutEnds:
    """The END_LOCKOUT task handler: a lockout's time is up, its alarm clears."""

    store: CentralStore

    def run_tasks(self, tasks: list[TaskRecord], now: float) -> None:
        """Clear each task's own lockout alarm if it is still the open one; safe to repeat."""
        with self.store.transaction() as session:
            open_ = [
                a
                for a in session.list_alarms()
                if a.kind == AlarmKind.SCANNER_LOCKED_OUT.value and a.ref == LOCKOUT_REF
            ]
            for task in tasks:
                if task.site is None or task.id is None:
                    continue
                opened_at = json.loads(task.payload).get("opened_at")
                if any(a.site == task.site and a.opened_at == opened_at for a in open_):
                    clear_alarm(session, task.site, AlarmKind.SCANNER_LOCKED_OUT, now, LOCKOUT_REF)
                session.finish_task(task.id, now)
