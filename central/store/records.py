"""The rows central keeps, as plain immutable records. Stores speak only these.

Statuses and states are enums (`StrEnum`: each member equals the string stored and sent on
the wire), and what a column keeps as JSON text comes out parsed (a site's faults and
compartments, a parcel's contact): the queries (de)serialise, callers never parse a field.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from central.parcels.lifecycle import ParcelState, ParcelStep
from protocols.messages import Fault, SiteKind, SlotState

__all__ = [
    "AlarmRecord",
    "CodeRecord",
    "CodeStatus",
    "CommandRecord",
    "Contact",
    "Fault",
    "LivenessRecord",
    "ParcelRecord",
    "ParcelState",
    "ParcelStep",
    "ProcessRecord",
    "RemovalRecord",
    "ReservationRecord",
    "ReservationStatus",
    "SiteKind",
    "SiteRecord",
    "SlotRecord",
    "SlotState",
    "StepRecord",
    "StoredEvent",
    "StreamCursor",
    "TaskKind",
    "TaskRecord",
]


class ReservationStatus(enum.StrEnum):
    """Where a reservation stands; only HELD holds capacity (the schema's unique indexes)."""

    HELD = "held"
    FULFILLED = "fulfilled"  # the parcel was deposited
    LAPSED = "lapsed"  # no parcel came in time, or the site refused it
    CANCELLED = "cancelled"


class CodeStatus(enum.StrEnum):
    """A pickup code's status."""

    ACTIVE = "active"
    REVOKED = "revoked"  # replaced by a newer code, or the parcel left another way
    USED = "used"


class TaskKind(enum.StrEnum):
    """What a durable task does (central.parcels.tasks runs them; defined here so the store's
    records need nothing that needs the store)."""

    ISSUE_CODE = "issue_code"  # a parcel is ready: issue and send the consumer's pickup code
    REMIND = "remind"  # the pickup window is nearly over
    EXPIRE = "expire"  # the pickup window is over: mark for removal
    SEND_COMMAND = "send_command"  # a signed command to a site
    END_LOCKOUT = "end_lockout"  # a site's scanner lockout is over: its alarm clears
    REDIRECT = "redirect"  # a home delivery failed at the door: redirect it, or return it


@dataclass(frozen=True, repr=False)
class Contact:
    """How to reach a parcel's consumer. Only the notifier reads it; tracking never shows
    it, and neither does a record's repr (so a log line cannot leak it)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    # The language messages are written in (an IETF tag: "en", "zh", "ms", "ta"); None: the
    # network's default.
    language: str | None = None

    def __repr__(self) -> str:
        return "Contact(<withheld>)"


@dataclass(frozen=True)
class SiteRecord:
    """A locker bank or collection point: from the network file, then from the site itself."""

    site: str
    kind: SiteKind | None  # None: heard from before the network file named it
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    shelf_capacity: int | None = None
    shelf_used: int | None = None
    online: bool | None = None
    status_at: float | None = None
    boot_id: str | None = None
    agent_version: str | None = None
    snapshot_at: float | None = None
    snapshot_seq: int | None = None
    # The faults the site's newest state snapshot reported.
    faults: tuple[Fault, ...] = ()
    # Compartments per size class (SizeClass values) from the network file: capacity before
    # the site's first state snapshot says which slots exist and which are free.
    compartments: Mapping[str, int] = field(default_factory=dict)
    # The broker (by its name in central's configuration) the site was last heard on.
    broker: str | None = None


@dataclass(frozen=True)
class SlotRecord:
    site: str
    slot: str
    size: str
    state: SlotState
    parcel: str | None = None
    reserved_for: str | None = None
    occupied: bool | None = None
    door: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class StreamCursor:
    """Where one of a site's event streams stands at central. Ordering lives here, not in
    memory.

    A stream is what the site numbers with one `epoch` (its store's identity) from
    `base_seq` on: a new epoch (the store lost or replaced) or a rewind of one (the store
    rolled back, numbering new events with seqs central already applied) starts another.
    Seqs stay the site's own numbers. `id` is None until the stream is first saved.
    """

    site: str
    applied_seq: int = 0
    max_received_seq: int = 0
    gap_since: float | None = None  # when central first waited for applied_seq + 1
    resend_requested_at: float | None = None
    resend_count: int = 0
    deposits: int = 0
    pickups: int = 0
    removals: int = 0
    duplicates: int = 0
    lost: int = 0  # sequence numbers given up on after ingest.gap_give_up_s
    epoch: str = ""  # '' for an agent older than epochs
    id: int | None = None
    base_seq: int = 1
    started_at: float | None = None
    closed_at: float | None = None  # a newer stream of the site took over
    cause: str = "first"  # first | restart (new epoch) | rewind (same epoch, seq reused)
    reconciled: bool = True  # False until a snapshot of the stream replaced central's view

    @property
    def current(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class LivenessRecord:
    """When central last heard a site (central's clock), and what its heartbeats said."""

    site: str
    heard_at: float
    beat_at: float | None = None  # the site's clock in its newest heartbeat
    beat_interval_s: float | None = None  # the gap to the next beat the site announced
    clock_offset_s: float | None = None  # site clock minus central's, smoothed
    stale: bool = False  # called offline for silence; cleared when heard again
    time_sent_at: float | None = None  # central's clock: a signed time last sent to fix its clock


@dataclass(frozen=True)
class StoredEvent:
    site: str
    seq: int
    event_id: str
    type: str
    at: float
    payload: str  # the event's JSON as received
    received_at: float
    applied_at: float | None = None
    stream: int = 0  # StreamCursor.id of the stream it belongs to


@dataclass(frozen=True)
class ParcelRecord:
    label: str
    state: ParcelState | None  # None: not yet announced (a deposit central never heard of)
    size: str | None = None
    weight_kg: float | None = None
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    delivery_mode: str | None = None
    preferred_site: str | None = None
    # Only the notifier reads it; tracking never shows it.
    contact: Contact | None = None
    site: str | None = None
    slot: str | None = None
    partner: str | None = None
    courier: str | None = None
    announced_at: float | None = None
    dispatched_at: float | None = None  # overseas dispatch: the 72-hour promise runs from it
    updated_at: float = 0.0
    pickup_expires_at: float | None = None
    # The partner whose manifest (the partner API) announced it; None: the operator's import.
    # Only that partner reads it through the API and gets its webhooks.
    owner: str | None = None
    # The promise (central/parcels/promise.py): the service level it was sold under (None:
    # the partner's default), its deadline (dispatch + the promise, Unix s), the furthest
    # cross-border milestone reached, and where it stands (None: not judged yet; else a
    # promise.SlaState value: on_time, at_risk, breached, met, ended, ...).
    service: str | None = None
    deadline_at: float | None = None
    milestone: str | None = None
    sla_state: str | None = None
    # "delivery" (None) or "return" (a consumer's return, of the parcel `return_of`).
    kind: str | None = None
    return_of: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """One step of a parcel's timeline: what, when it happened, who said so."""

    label: str
    step: ParcelStep
    before: ParcelState | None
    after: ParcelState
    at: float
    source: str
    detail: str | None = None
    recorded_at: float = 0.0


@dataclass(frozen=True)
class ReservationRecord:
    label: str
    site: str
    size: str
    created_at: float
    until: float
    slot: str | None = None
    status: ReservationStatus = ReservationStatus.HELD
    command_id: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class CodeRecord:
    """A pickup code issued (never its text: that is the consumer's secret)."""

    code_id: str
    label: str
    site: str
    short_form: str
    issued_at: float
    expires_at: float
    status: CodeStatus = CodeStatus.ACTIVE


@dataclass(frozen=True)
class TaskRecord:
    """A durable piece of work with an effect outside the store (notify, command a site)."""

    kind: TaskKind
    due_at: float
    label: str | None = None
    site: str | None = None
    payload: str = "{}"
    attempts: int = 0
    last_error: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class CommandRecord:
    id: str
    site: str
    type: str
    issued_at: float
    expires_at: float
    body: str
    reply_ok: bool | None = None
    reply_reason: str | None = None
    reply_at: float | None = None
    reply_detail: str | None = None


@dataclass(frozen=True)
class AlarmRecord:
    site: str
    kind: str
    opened_at: float
    ref: str = ""
    detail: str | None = None
    source: str | None = None
    cleared_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class RemovalRecord:
    """A parcel a courier must take out of a site (expired, or to be returned)."""

    label: str
    site: str
    reason: str
    created_at: float
    slot: str | None = None
    done_at: float | None = None


@dataclass(frozen=True)
class ProcessRecord:
    """One `lockernet central run` process on this store: its heartbeat and its work.

    `process` is unique per start (client id and a boot id): a process restarted under the
    same client id is a new row, the old one left as it ended. Times are central's clock
    (seconds since the epoch); `received` and `applied` count events since it started."""

    process: str
    client_id: str
    host: str
    pid: int
    started_at: float
    heard_at: float
    stopped_at: float | None = None
    brokers: tuple[str, ...] = ()  # the brokers (by name) it is connected to now
    received: int = 0
    applied: int = 0
