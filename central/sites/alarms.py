"""Open alarms an operator must see: a site gone offline by its last will, a door left open
or forced, a board, lock, sensor or scanner fault, events given up on.

An alarm is raised once however often its cause repeats (one open alarm per site, kind and
ref). Conditions a site reports the end of clear themselves (the site comes back, the door
closes, the fault clears); the others stay until an operator acknowledges them.
"""

from __future__ import annotations

import enum
import logging

from central.errors import CentralError
from central.store import AlarmRecord, StoreSession
from protocols.limits import fit_text
from protocols.messages import FaultComponent

log = logging.getLogger(__name__)


class AlarmKind(enum.StrEnum):
    SITE_OFFLINE = "site_offline"
    DOOR_LEFT_OPEN = "door_left_open"
    DOOR_FORCED = "door_forced"
    BOARD_FAULT = "board_fault"
    SLOT_FAULT = "slot_fault"
    SCANNER_FAULT = "scanner_fault"
    # Too many bad codes: the site's scanner ignores scans until the detail's time; cleared
    # then by central's END_LOCKOUT task (central/sites/lockouts.py).
    SCANNER_LOCKED_OUT = "scanner_locked_out"
    REMOTE_OPEN_REFUSED = "remote_open_refused"
    EVENTS_LOST = "events_lost"
    EVENT_FAILED = "event_failed"
    COMMAND_REFUSED = "command_refused"
    # A site's event stream started again: its store was lost, replaced or restored (a new
    # epoch), or rolled back (seqs central applied reused by new events), or its snapshot
    # is behind what central applied. Each stays until an operator acknowledges it.
    STREAM_RESTARTED = "stream_restarted"
    STREAM_REWOUND = "stream_rewound"
    SNAPSHOT_BEHIND = "snapshot_behind"
    STATE_DIFFERS = "state_differs"  # a new stream's snapshot replaced central's view
    # Parcels central has at a site that its new stream's snapshot does not show: each is an
    # exception and its compartment out of service until a technician checks it.
    PARCELS_UNACCOUNTED = "parcels_unaccounted"
    CLOCK_OFFSET = "clock_offset"
    SITE_FAULT = "site_fault"  # the site's store refuses writes, or one of its tasks died
    # A central process cannot reach one of its brokers: one alarm for all the sites on it
    # (its `site` is "broker:<name>", its ref the process's client id there).
    BROKER_UNREACHABLE = "broker_unreachable"
    # A partner's webhook endpoint gave up a delivery (every retry failed): one alarm per
    # endpoint (its `site` is "partner:<id>", its ref the endpoint's id), cleared when the
    # endpoint next accepts a delivery.
    WEBHOOK_FAILING = "webhook_failing"
    # A parcel's promise (central/parcels/promise.py): less time is left before its deadline
    # than the rest of its journey needs, or the deadline passed before it was ready for
    # pickup or delivered. Its `site` is the parcel's site ("network" before it has one),
    # its ref the label; both clear when the parcel reaches its consumer or ends.
    PARCEL_AT_RISK = "parcel_at_risk"
    SLA_BREACHED = "sla_breached"
    # A parcel's cross-border exceptions (central/parcels/milestone_events.py): its `site`
    # is "parcel:<label>". Customs hold clears when the parcel is released or cleared (or
    # is heard of further on); damage stays until an operator acknowledges it.
    PARCEL_DAMAGED = "parcel_damaged"
    CUSTOMS_HELD = "customs_held"


# Kinds whose end the site reports; the rest (a forced door, events lost) end when acked.
SELF_CLEARING = frozenset(
    {
        AlarmKind.SITE_OFFLINE,
        AlarmKind.DOOR_LEFT_OPEN,
        AlarmKind.BOARD_FAULT,
        AlarmKind.SLOT_FAULT,
        AlarmKind.SCANNER_FAULT,
        AlarmKind.SCANNER_LOCKED_OUT,
        AlarmKind.CLOCK_OFFSET,
        AlarmKind.SITE_FAULT,
        AlarmKind.BROKER_UNREACHABLE,
        AlarmKind.WEBHOOK_FAILING,
        AlarmKind.PARCEL_AT_RISK,
        AlarmKind.SLA_BREACHED,
    }
)

# Which alarm a fault of each component raises (a link fault is the site's own business).
FAULT_ALARM: dict[FaultComponent, AlarmKind] = {
    FaultComponent.LOCK: AlarmKind.SLOT_FAULT,
    FaultComponent.SENSOR: AlarmKind.SLOT_FAULT,
    FaultComponent.BOARD: AlarmKind.BOARD_FAULT,
    FaultComponent.STORE: AlarmKind.SITE_FAULT,
    FaultComponent.AGENT: AlarmKind.SITE_FAULT,
    FaultComponent.SCANNER: AlarmKind.SCANNER_FAULT,
}


class UnknownAlarm(CentralError):
    def __init__(self, alarm_id: int) -> None:
        self.alarm_id = alarm_id
        super().__init__(f"no alarm with id {alarm_id} (lockernet alarms lists them)")


def raise_alarm(
    session: StoreSession,
    site: str,
    kind: AlarmKind,
    at: float,
    *,
    ref: str = "",
    detail: str | None = None,
    source: str | None = None,
) -> bool:
    """Open an alarm; False if the same one is already open. A long `detail` is cut at the
    contract's text limit (protocols.limits.TEXT_MAX_CHARS), as a site's own details are."""
    if detail is not None:
        detail = fit_text(detail)
    record = AlarmRecord(site, kind.value, at, ref=ref, detail=detail, source=source)
    opened = session.open_alarm(record)
    if opened:
        # One line per alarm, not per repeat of its cause; logged once the transaction
        # commits, so a transaction retried after a conflict does not log it twice.
        if kind is AlarmKind.SITE_OFFLINE:
            line = f"site {site} went offline: {detail or 'its last will'}"
        else:
            line = f"alarm {kind.value} at {site}{f' ({ref})' if ref else ''}: {detail}"
        session.after_commit(lambda: log.info("%s", line))
    return opened


def clear_alarm(
    session: StoreSession, site: str, kind: AlarmKind, at: float, ref: str | None = ""
) -> None:
    """Close open alarms of `kind` at `site` (one ref; every ref when `ref` is None)."""
    session.clear_alarms(site, kind.value, ref, at)


def site_online(session: StoreSession, site: str, at: float) -> None:
    """The site is online, first or again after central called it offline: its offline
    alarm (if any) closes, and one line is logged once the transaction commits. Call it
    only when the site's record turns online, so a site is said online once per connect,
    however many messages say it."""
    clear_alarm(session, site, AlarmKind.SITE_OFFLINE, at)
    session.after_commit(lambda: log.info("site %s is online", site))


def acknowledge(session: StoreSession, alarm_id: int, by: str, at: float) -> AlarmRecord:
    """An operator saw the alarm. Alarms no site report can end are closed by it."""
    alarm = session.get_alarm(alarm_id)
    if alarm is None:
        raise UnknownAlarm(alarm_id)
    if alarm.acked_at is not None:
        raise CentralError(f"alarm {alarm_id} was already acknowledged by {alarm.acked_by}")
    clear = AlarmKind(alarm.kind) not in SELF_CLEARING
    session.ack_alarm(alarm_id, by, at, clear)
    updated = session.get_alarm(alarm_id)
    assert updated is not None
    return updated
