"""What the site's decisions return: actions for the shell (edge/agent/) to carry out.

A decision reads the site's records and state and returns a list of actions, in order. The
shell runs them in three steps, which is what keeps the durability rule (docs/edge.md: the
store commits before a door moves):

1. store changes (`StoreChange`), all in one transaction;
2. once that committed, state changes (`StateChange`) applied to `SiteState`;
3. then effects (`Effect`): the events written are announced, locks released, state published.

A decision that refuses raises `Refused` (a scan) or `CommandRefused` (a command) before it
returns anything, so nothing it read is changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from edge.site.slots import Trigger
from protocols.messages import (
    EventPayload,
    Fault,
    FaultComponent,
    ReplyReason,
    ScanKind,
    ScanRefusal,
    SizeClass,
    SlotFaultCode,
)

if TYPE_CHECKING:
    from edge.site.lockout import Decision

KEEP = False  # Move(parcel=KEEP): the slot keeps its parcel (edge.store.sqlite.Transaction.move)


class BoardStatus(Protocol):
    """One board's sensors (edge.drivers.lockboard.BoardReading): per lock, index 0 = lock 1.

    Named here, with the actions that carry it, so state.py builds on the actions and the
    actions never on the state.
    """

    @property
    def board(self) -> int: ...
    @property
    def door_open(self) -> Sequence[bool]: ...
    @property
    def occupied(self) -> Sequence[bool | None]: ...  # None: no occupancy sensor


# ===================================================================== store changes
@dataclass(frozen=True)
class Move:
    """Move `slot` through the transition table (edge/site/slots.py)."""

    slot: str
    trigger: Trigger
    parcel: str | bool | None = KEEP
    opened_by: str | None = None
    open_ref: str | None = None


@dataclass(frozen=True)
class SetReservedFor:
    slot: str
    parcel: str | None


@dataclass(frozen=True)
class Expect:
    """Expect `parcel` (a reservation), in `slot` or on the shelf (None), until `until`."""

    parcel: str
    size: SizeClass
    slot: str | None
    until: float


@dataclass(frozen=True)
class ForgetExpected:
    parcel: str


@dataclass(frozen=True)
class UseCode:
    code_id: str
    parcel: str


@dataclass(frozen=True)
class RevokeCode:
    code_id: str
    parcel: str


@dataclass(frozen=True)
class RevokeBadge:
    """Refuse the courier badge `badge_id` (its nonce, hex) until `until` (its valid_until,
    Unix seconds): after that it is refused as expired anyway, and the entry may go."""

    badge_id: str
    until: float


@dataclass(frozen=True)
class MarkForRemoval:
    parcel: str
    reason: str


@dataclass(frozen=True)
class Removed:
    """The parcel's removal entry goes (it was collected or taken back)."""

    parcel: str


@dataclass(frozen=True)
class Shelve:
    parcel: str
    courier: str


@dataclass(frozen=True)
class Unshelve:
    parcel: str


@dataclass(frozen=True)
class OpenReturn:
    """A consumer's return label (`label_id`, its nonce hex) opened `slot` for return
    `return_id`, the parcel labelled `label`: remembered until the door shuts."""

    label_id: str
    return_id: str
    label: str
    slot: str


@dataclass(frozen=True)
class DropReturn:
    """The return went in: its label is used, for good (single use)."""

    label_id: str


@dataclass(frozen=True)
class ForgetReturn:
    """The door shut on nothing: the label may be scanned again."""

    label_id: str


@dataclass(frozen=True)
class MarkReleased:
    """The board confirmed `slot`'s release: evidence for a restart (crash_recovery.py)."""

    slot: str


@dataclass(frozen=True)
class Emit:
    """Write an event to the outbox (announced to the uplink once committed)."""

    event: EventPayload


@dataclass(frozen=True)
class SweepRemovals:
    """Removal entries of parcels no longer here go (picked up, removed, never came)."""


StoreChange = (
    Move
    | SetReservedFor
    | Expect
    | ForgetExpected
    | UseCode
    | RevokeCode
    | RevokeBadge
    | MarkForRemoval
    | Removed
    | Shelve
    | Unshelve
    | OpenReturn
    | DropReturn
    | ForgetReturn
    | MarkReleased
    | SweepRemovals
    | Emit
)


# ===================================================================== state changes
@dataclass(frozen=True)
class RaiseFault:
    """A fault stands (in the snapshot) until cleared; `slot_fault` also marks its slot."""

    fault: Fault
    slot_fault: SlotFaultCode | None = None


@dataclass(frozen=True)
class ClearFault:
    """The fault goes (its FaultCleared event, if any, is an Emit beside this)."""

    component: FaultComponent
    ref: str
    code: str
    slot: str | None = None  # the slot whose fault mark goes with it


@dataclass(frozen=True)
class ClearSlotFaults:
    """A slot back in service: its fault mark and every fault on it go, without events."""

    slot: str


@dataclass(frozen=True)
class TrackDoor:
    """A door to follow until it shuts: unlocked by the site, or forced open."""

    slot: str
    unlocked_at: float  # monotonic
    since: float  # monotonic
    seen_open: bool = False
    forced: bool = False


@dataclass(frozen=True)
class DoorSeenOpen:
    """A poll taken after the release saw the door open (`since`: it just opened)."""

    slot: str
    since: float | None = None


@dataclass(frozen=True)
class DoorLeftOpenReported:
    slot: str


@dataclass(frozen=True)
class ForgetDoor:
    """The door shut: no longer followed (nor forced); the code that opened it may be
    scanned again as a new request (edge/site/lockout.py)."""

    slot: str


@dataclass(frozen=True)
class Settled:
    """A slot left open by a crash was settled by its board's reading."""

    slot: str


@dataclass(frozen=True)
class Unsettled:
    """A slot left open by a crash, on a board that did not answer at start-up."""

    slot: str


@dataclass(frozen=True)
class GoodReading:
    board: int


@dataclass(frozen=True)
class BoardDown:
    board: int


@dataclass(frozen=True)
class BoardUp:
    board: int


@dataclass(frozen=True)
class Reading:
    """Keep the board's latest trusted reading (what the snapshot and slot choice use)."""

    reading: BoardStatus


@dataclass(frozen=True)
class CountRefusal:
    """Count a refused scan toward the scan lockout (edge/site/lockout.py), once its
    ScanRefused is recorded: a refusal the store could not write counts for nothing, so no
    lockout ever stands without its ScannerLockedOut event."""

    reason: ScanRefusal
    now_m: float  # monotonic
    guessing: bool | None
    decision: Decision


StateChange = (
    RaiseFault
    | ClearFault
    | ClearSlotFaults
    | TrackDoor
    | DoorSeenOpen
    | DoorLeftOpenReported
    | ForgetDoor
    | Settled
    | Unsettled
    | GoodReading
    | BoardDown
    | BoardUp
    | Reading
    | CountRefusal
)


# =========================================================================== effects
@dataclass(frozen=True)
class Unlock:
    """Release `slot`'s lock; if it does not release, move it by `undo` (doors.unlock_failed).

    `retrying_fault`: the slot's lock failed before; a release now clears that fault."""

    slot: str
    undo: Trigger
    retrying_fault: bool = False


@dataclass(frozen=True)
class PublishState:
    """Send the state snapshot now (a fault central must see that has no event)."""


Effect = Unlock | PublishState
Action = StoreChange | StateChange | Effect
STORE_CHANGES = StoreChange.__args__
STATE_CHANGES = StateChange.__args__


def store_changes(actions: list[Action]) -> list[StoreChange]:
    """The actions that go into the store's transaction, in order."""
    return [a for a in actions if isinstance(a, STORE_CHANGES)]


def state_changes(actions: list[Action]) -> list[StateChange]:
    """The actions that change SiteState once the store committed, in order."""
    return [a for a in actions if isinstance(a, STATE_CHANGES)]


def events(actions: list[Action]) -> list[EventPayload]:
    """The events the actions write, in order."""
    return [a.event for a in actions if isinstance(a, Emit)]


# ========================================================================= refusals
class Refused(Exception):
    """A scan that opens nothing: raised by a decision before it returns any action."""

    def __init__(
        self,
        kind: ScanKind,
        reason: ScanRefusal,
        detail: str | None = None,
        guessing: bool | None = None,  # None: edge.site.lockout decides by reason
    ) -> None:
        super().__init__(f"{kind.value}: {reason.value}")
        self.kind = kind
        self.reason = reason
        self.detail = detail
        self.guessing = guessing


class CommandRefused(Exception):
    """A command the site will not carry out; the reply carries `reason` and `detail`."""

    def __init__(self, reason: ReplyReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.record: list[Action] = []  # what the refusal itself writes (an alarm event)
