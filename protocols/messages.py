"""The MQTT message models: what sites and central say to each other, as compact JSON.

Every message carries a schema version `v`. Unknown fields are ignored, so a newer sender can
add fields without breaking an older receiver; an unknown version is refused with an error
that says so, before anything else is read.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from protocols import limits
from protocols.errors import LabelError, MessageError, UnsupportedSchemaVersion
from protocols.labels import parse_label
from protocols.topics import SITE_ID_PATTERN
from protocols.vocabulary import (
    BoardFaultCode,
    DoorOpenReason,
    DoorState,
    FaultComponent,
    RemovalReason,
    ScanKind,
    ScannerFaultCode,
    ScanRefusal,
    SiteKind,
    SizeClass,
    SlotFaultCode,
    SlotState,
)

# The contract's vocabulary (protocols/vocabulary.py) is named from here too, as it always was:
# listed as re-exported (the module's own names need no listing).
__all__ = [
    "BoardFaultCode",
    "DoorOpenReason",
    "DoorState",
    "FaultComponent",
    "RemovalReason",
    "ScanKind",
    "ScanRefusal",
    "ScannerFaultCode",
    "SiteKind",
    "SizeClass",
    "SlotFaultCode",
    "SlotState",
]

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = frozenset({SCHEMA_VERSION})
# No message of ours comes near this; a bigger payload is refused before parsing.
MAX_PAYLOAD_BYTES = 256 * 1024


def _label(value: str) -> str:
    try:
        return parse_label(value).id
    except LabelError as exc:
        raise ValueError(str(exc)) from None


SiteId = Annotated[str, StringConstraints(pattern=SITE_ID_PATTERN)]
SlotId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,15}$")]
LabelId = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.LABEL_MAX_CHARS), AfterValidator(_label)
]
Timestamp = Annotated[float, Field(ge=0, description="Unix time in seconds")]
Text = Annotated[str, StringConstraints(max_length=limits.TEXT_MAX_CHARS)]
Ident = Annotated[str, StringConstraints(pattern=limits.IDENT_PATTERN)]
LastSeq = Annotated[
    int, Field(ge=0, le=limits.SEQ_MAX, description="the newest event sequence number written")
]
Nonce = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]


class WireModel(BaseModel):
    """Base of every message: versioned, immutable, tolerant of fields it does not know."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    v: Literal[1] = Field(default=1, description="Schema version")


class Payload(BaseModel):
    """Base of nested parts: tolerant of fields it does not know."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------- status and state


class SiteStatus(WireModel):
    """Retained on lockernet/v1/sites/{site}/status. The last will publishes online=false."""

    site: SiteId
    online: bool
    boot_id: Ident
    at: Timestamp
    agent_version: Text | None = None


class CentralStatus(WireModel):
    """Retained on lockernet/v1/central/status, so sites know whether the centre is up."""

    online: bool
    boot_id: Ident
    at: Timestamp


class Heartbeat(WireModel):
    """On lockernet/v1/sites/{site}/heartbeat every few seconds, QoS 0, never retained.

    Liveness that a restarted broker cannot fake (a retained "online" can outlive its site),
    and the site's view of its own stream: central asks for a resend when `last_seq` is
    ahead of what it applied, whatever the site does next. `at` is the site's clock when it
    sent the beat; central compares it with its own to track the site's clock offset.
    """

    site: SiteId
    boot_id: Ident
    epoch: Ident | None = Field(default=None, description="the event stream's identity")
    at: Timestamp
    last_seq: LastSeq
    interval_s: float = Field(gt=0, le=3600, description="seconds until the next beat")


class Fault(Payload):
    component: FaultComponent
    code: str = Field(max_length=limits.CODE_MAX_CHARS)
    ref: Text | None = Field(default=None, description="board, slot or port the fault is on")
    since: Timestamp
    detail: Text | None = None


class SlotSnapshot(Payload):
    slot: SlotId
    size: SizeClass
    state: SlotState
    door: DoorState = DoorState.UNKNOWN
    locked: bool | None = None
    occupied: bool | None = Field(default=None, description="the IR occupancy sensor")
    parcel: LabelId | None = None
    reserved_for: LabelId | None = None


class StateSnapshot(WireModel):
    """Retained on lockernet/v1/sites/{site}/state, published on every (re)connect."""

    site: SiteId
    kind: SiteKind
    boot_id: Ident
    at: Timestamp
    last_seq: LastSeq
    epoch: Ident | None = Field(
        default=None, description="the event stream's identity: created with the site's store"
    )
    slots: list[SlotSnapshot] = Field(default_factory=list, max_length=2000)
    shelf_capacity: int | None = Field(default=None, ge=0)
    shelf_used: int | None = Field(default=None, ge=0)
    faults: list[Fault] = Field(default_factory=list, max_length=1000)
    versions: dict[str, Text] = Field(default_factory=dict)
    clock_unsure: bool = Field(
        default=False,
        description="the site's wall clock is far from the latest time it has witnessed "
        "(its store, central's signed times): `at` and event times are its best evidence",
    )


# -------------------------------------------------------------------------------- events


class ParcelDeposited(Payload):
    type: Literal["parcel_deposited"] = "parcel_deposited"
    parcel: LabelId
    slot: SlotId
    courier: Ident
    size: SizeClass | None = None
    reserved: bool = Field(description="the parcel went into the slot reserved for it")


class ParcelPickedUp(Payload):
    type: Literal["parcel_picked_up"] = "parcel_picked_up"
    parcel: LabelId
    slot: SlotId
    code_id: Nonce


class ParcelRemoved(Payload):
    type: Literal["parcel_removed"] = "parcel_removed"
    parcel: LabelId
    slot: SlotId
    courier: Ident
    reason: RemovalReason


class ReturnDroppedOff(Payload):
    """A consumer's return went in: into `slot` behind a door that closed with the IR seeing
    it (a locker), or onto the counter's shelves (`slot` "SHELF"). `label_id`: the return
    label's single-use id (its nonce, hex)."""

    type: Literal["return_dropped_off"] = "return_dropped_off"
    label: LabelId
    return_id: Ident
    slot: SlotId
    label_id: Nonce


class DoorOpened(Payload):
    type: Literal["door_opened"] = "door_opened"
    slot: SlotId
    reason: DoorOpenReason


class DoorClosed(Payload):
    type: Literal["door_closed"] = "door_closed"
    slot: SlotId
    occupied: bool | None = None


class DoorLeftOpen(Payload):
    type: Literal["door_left_open"] = "door_left_open"
    slot: SlotId
    open_seconds: float = Field(ge=0)


class DoorForced(Payload):
    type: Literal["door_forced"] = "door_forced"
    slot: SlotId


class SlotOutOfService(Payload):
    type: Literal["slot_out_of_service"] = "slot_out_of_service"
    slot: SlotId
    reason: Text
    by: Ident


class SlotBackInService(Payload):
    type: Literal["slot_back_in_service"] = "slot_back_in_service"
    slot: SlotId
    by: Ident


class LockFault(Payload):
    type: Literal["lock_fault"] = "lock_fault"
    slot: SlotId
    fault: SlotFaultCode
    detail: Text | None = None


class SensorFault(Payload):
    type: Literal["sensor_fault"] = "sensor_fault"
    slot: SlotId
    fault: SlotFaultCode
    detail: Text | None = None


class BoardFault(Payload):
    type: Literal["board_fault"] = "board_fault"
    board: int = Field(ge=0, le=31)
    fault: BoardFaultCode
    detail: Text | None = None


class ScannerFault(Payload):
    type: Literal["scanner_fault"] = "scanner_fault"
    fault: ScannerFaultCode
    detail: Text | None = None


class FaultCleared(Payload):
    type: Literal["fault_cleared"] = "fault_cleared"
    component: FaultComponent
    ref: Text | None = None
    code: str = Field(max_length=limits.CODE_MAX_CHARS)


class ScanRefused(Payload):
    """A scan that opened nothing. The scanned text itself is never sent: it may be a secret."""

    type: Literal["scan_refused"] = "scan_refused"
    kind: ScanKind
    reason: ScanRefusal
    detail: Text | None = None


class ScannerLockedOut(Payload):
    type: Literal["scanner_locked_out"] = "scanner_locked_out"
    failures: int = Field(ge=1)
    until: Timestamp


class RemoteOpenRefused(Payload):
    """The mass-open breaker held: too many remote opens outside a maintenance session."""

    type: Literal["remote_open_refused"] = "remote_open_refused"
    slot: SlotId
    command_id: Ident
    opens_in_window: int = Field(ge=0)


EventPayload = Annotated[
    ParcelDeposited
    | ParcelPickedUp
    | ParcelRemoved
    | ReturnDroppedOff
    | DoorOpened
    | DoorClosed
    | DoorLeftOpen
    | DoorForced
    | SlotOutOfService
    | SlotBackInService
    | LockFault
    | SensorFault
    | BoardFault
    | ScannerFault
    | FaultCleared
    | ScanRefused
    | ScannerLockedOut
    | RemoteOpenRefused,
    Field(discriminator="type"),
]


class Event(WireModel):
    """One event on lockernet/v1/sites/{site}/events. `payload.type` says what happened.

    `seq` is the site's own sequence number within its stream (`epoch`, created with the
    site's store): central orders by (site, epoch, seq) and sees a gap as a missing event,
    and deduplicates by the event's `id`, since a store rolled back numbers new events
    with seqs it had already used.
    """

    site: SiteId
    seq: int = Field(ge=1, le=limits.SEQ_MAX)
    id: Ident
    at: Timestamp
    payload: EventPayload
    # Optional so that an agent older than the epoch is still heard: its events belong to
    # its site's one legacy stream. A required field would make central reject, and so
    # lose, every event such an agent sends.
    epoch: Ident | None = Field(
        default=None, description="the stream this seq belongs to: created with the store"
    )

    @property
    def type(self) -> str:
        return self.payload.type


# ------------------------------------------------------------------------------ commands


class ReserveSlot(Payload):
    type: Literal["reserve_slot"] = "reserve_slot"
    parcel: LabelId
    size: SizeClass
    until: Timestamp = Field(description="the reservation lapses if no parcel came by then")
    slot: SlotId | None = Field(default=None, description="a slot chosen by central, if any")


class CancelReservation(Payload):
    type: Literal["cancel_reservation"] = "cancel_reservation"
    parcel: LabelId


class OpenSlot(Payload):
    type: Literal["open_slot"] = "open_slot"
    slot: SlotId
    reason: Text


class SetSlotService(Payload):
    type: Literal["set_slot_service"] = "set_slot_service"
    slot: SlotId
    in_service: bool
    reason: Text


class RevokeCode(Payload):
    type: Literal["revoke_code"] = "revoke_code"
    parcel: LabelId
    code_id: Nonce


class RevokeBadge(Payload):
    type: Literal["revoke_badge"] = "revoke_badge"
    badge_id: Nonce = Field(description="a revoked courier badge's nonce, hex")
    until: Timestamp = Field(description="the badge's valid_until: refused until then")


class RunDiagnostics(Payload):
    type: Literal["run_diagnostics"] = "run_diagnostics"


class ResendState(Payload):
    type: Literal["resend_state"] = "resend_state"
    from_seq: int | None = Field(
        default=None, ge=1, le=limits.SEQ_MAX, description="also resend events from here"
    )


class MarkForRemoval(Payload):
    """Central's list of parcels a courier must take out (expired, or to be returned)."""

    type: Literal["mark_for_removal"] = "mark_for_removal"
    parcels: list[LabelId] = Field(min_length=1, max_length=limits.REMOVAL_MAX_PARCELS)
    reason: RemovalReason


CommandBody = Annotated[
    ReserveSlot
    | CancelReservation
    | OpenSlot
    | SetSlotService
    | RevokeCode
    | RevokeBadge
    | RunDiagnostics
    | ResendState
    | MarkForRemoval,
    Field(discriminator="type"),
]


class Command(WireModel):
    """What central asks of a site. It travels signed, inside a SignedCommand."""

    id: Ident
    site: SiteId
    issued_at: Timestamp
    expires_at: Timestamp
    nonce: Nonce
    body: CommandBody


class SignedCommand(WireModel):
    """On lockernet/v1/sites/{site}/commands: a Command's exact JSON text and its signature.

    The signature covers the bytes of `command` as sent, so no re-serialisation can change
    what was signed. A site obeys nothing it cannot verify with central's public key.
    """

    command: str = Field(max_length=16 * 1024, description="JSON text of a Command")
    sig: str = Field(pattern=r"^[A-Za-z0-9_-]{86}$", description="Ed25519, base64url")


class ReplyReason(enum.StrEnum):
    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_SIGNATURE = "bad_signature"
    WRONG_SITE = "wrong_site"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REPLAYED = "replayed"
    UNKNOWN_SLOT = "unknown_slot"
    UNKNOWN_PARCEL = "unknown_parcel"
    SLOT_UNAVAILABLE = "slot_unavailable"
    NO_CAPACITY = "no_capacity"
    RATE_LIMITED = "rate_limited"
    HARDWARE_FAULT = "hardware_fault"
    # A door-moving command that reached the site too long after central issued it (held by
    # an outage): nobody is standing at the door any more, so it is not obeyed.
    STALE = "stale"


class Reply(WireModel):
    """On lockernet/v1/sites/{site}/replies: the answer to one command, by its id."""

    site: SiteId
    command_id: Ident
    at: Timestamp
    ok: bool
    reason: ReplyReason | None = None
    detail: Text | None = None
    result: dict[str, Any] | None = None


# ------------------------------------------------------------------------ encode, decode

M = TypeVar("M", bound=WireModel)


def encode(message: WireModel) -> bytes:
    """Compact JSON bytes for the wire (no whitespace, no null fields)."""
    return message.model_dump_json(exclude_none=True).encode()


def decode(model: type[M], payload: bytes | str) -> M:
    """Parse a payload as `model`. Any fault raises MessageError saying what is wrong."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MessageError(f"{model.__name__} payload of {len(payload)} bytes is too large")
    try:
        data = json.loads(payload, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise MessageError(f"{model.__name__} payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError(f"{model.__name__} payload must be a JSON object")
    if "v" not in data:
        raise MessageError(f"{model.__name__} payload has no schema version 'v'")
    if type(data["v"]) is not int or data["v"] not in SUPPORTED_VERSIONS:  # True is no version
        raise UnsupportedSchemaVersion(data["v"], SUPPORTED_VERSIONS)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MessageError(f"invalid {model.__name__}: {_summary(exc)}") from None


def _not_json(constant: str) -> float:
    # Python's json reads NaN and Infinity, not JSON: an Infinity time would go on as null.
    raise ValueError(f"{constant} is not a JSON value")


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'message'}: {error['msg']}"
        for error in exc.errors(include_url=False)[:5]
    )


# Every top-level message, by the name its JSON Schema file and AsyncAPI message carry.
MESSAGES: dict[str, type[WireModel]] = {
    "site-status": SiteStatus,
    "central-status": CentralStatus,
    "state-snapshot": StateSnapshot,
    "event": Event,
    "signed-command": SignedCommand,
    "command": Command,
    "reply": Reply,
    "heartbeat": Heartbeat,
}
