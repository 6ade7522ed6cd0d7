"""The site's live state beside the slot table: what the store does not keep.

The slot table (edge/site/slots.py, kept in the store) says what each slot is for. Beside it,
a few small named objects hold what the site has seen and must remember while it runs: the
boards' latest readings and health, the doors it is following (opened by it, forced, or left
open by a crash), the faults standing, the courier's session, the scan lockout's rate windows
and the mass-open breaker. Lost on a restart by design: the start-up reconciliation
(edge/site/reconcile.py) rebuilds them from the boards.

Decisions read `SiteState` and return `StateChange` actions; `SiteState.apply` carries them
out once the store committed. Two objects change as a scan is read: the scan lockout's record
of the scan just read (edge/site/lockout.py `admit`) and the courier session's deadline; a
refusal counts toward the lockout once its record is written (`CountRefusal`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge.site.actions import (
    BoardDown,
    BoardStatus,
    BoardUp,
    ClearFault,
    ClearSlotFaults,
    CountRefusal,
    DoorLeftOpenReported,
    DoorSeenOpen,
    ForgetDoor,
    GoodReading,
    RaiseFault,
    Reading,
    Settled,
    StateChange,
    TrackDoor,
    Unsettled,
)
from edge.site.lockout import ScanLockout
from protocols.messages import Fault, SiteKind, SizeClass, SlotFaultCode

FaultKey = tuple[str, str, str]  # (component, ref, code)


@dataclass(frozen=True)
class SlotPlace:
    """Where a slot's lock is: board address and lock number (1-based), and its size."""

    id: str
    board: int
    lock: int
    size: SizeClass


@dataclass(frozen=True)
class SiteRules:
    """The site's fixed facts and limits (from edge.config.SiteConfig, built by the shell)."""

    site: str
    kind: SiteKind
    slots: Mapping[str, SlotPlace]
    shelf_capacity: int = 0
    courier_session_s: float = 300.0
    door_left_open_s: float = 120.0
    remote_open_limit: int = 3
    remote_open_window_s: float = 600.0
    maintenance_s: float = 1800.0
    sent_retention_s: float = 7 * 86400.0
    # (board, lock) -> slot id; and per board, the slot id behind each lock (index 0 = lock
    # 1, None where no slot is configured): every poll that changed looks its locks up
    places: Mapping[tuple[int, int], str] = field(init=False, repr=False, compare=False)
    board_slots: Mapping[int, tuple[str | None, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        places = {(p.board, p.lock): p.id for p in self.slots.values()}
        locks: dict[int, int] = {}
        for board, lock in places:
            locks[board] = max(locks.get(board, 0), lock)
        board_slots = {
            board: tuple(places.get((board, lock)) for lock in range(1, last + 1))
            for board, last in locks.items()
        }
        object.__setattr__(self, "places", places)  # frozen: set once, here
        object.__setattr__(self, "board_slots", board_slots)

    def slot_at(self, board: int, lock: int) -> str | None:
        """The slot behind `lock` (1-based) of `board`, if one is configured."""
        return self.places.get((board, lock))


@dataclass
class OpenDoor:
    """A door the site follows until it shuts."""

    unlocked_at: float  # monotonic, after the release was confirmed
    since: float  # monotonic, when the door was last seen open
    left_open_reported: bool = False
    seen_open: bool = False  # by a poll that began after the release


@dataclass
class CourierSession:
    courier: str
    partner: str
    until: float  # monotonic
    badge_id: str = ""  # the badge that opened it: a revocation of that badge ends it


@dataclass
class Boards:
    """The boards' latest trusted readings and which are down (no reply)."""

    readings: dict[int, BoardStatus] = field(default_factory=dict)
    down: set[int] = field(default_factory=set)
    good_readings: dict[int, int] = field(default_factory=dict)  # in a row, per board

    def door(self, place: SlotPlace) -> tuple[bool, bool | None] | None:
        """(door open, occupied) of a slot by its board's latest reading, if it has one."""
        reading = self.readings.get(place.board)
        if reading is None or place.lock > len(reading.door_open):
            return None
        return reading.door_open[place.lock - 1], reading.occupied[place.lock - 1]


@dataclass
class Doors:
    """Doors followed until they shut: opened by the site, forced, or open across a crash."""

    open: dict[str, OpenDoor] = field(default_factory=dict)
    forced: set[str] = field(default_factory=set)
    # Slots left in an open state by a crash on a board that did not answer at start-up:
    # settled by that board's first reading (edge/site/crash_recovery.py).
    unsettled: set[str] = field(default_factory=set)


@dataclass
class SiteFaults:
    """Faults standing (reported in every snapshot), and the slots marked faulty by one."""

    active: dict[FaultKey, Fault] = field(default_factory=dict)
    slots: dict[str, SlotFaultCode] = field(default_factory=dict)

    def has(self, component: str, ref: str, code: str) -> bool:
        """Whether the fault (component value, ref, code) stands."""
        return (component, ref, code) in self.active


@dataclass
class MassOpenBreaker:
    """Remote opens in the window (monotonic times); none counts during maintenance."""

    opens: deque[float] = field(default_factory=deque)
    maintenance_until: float = 0.0  # monotonic

    def recent(self, now_m: float, window_s: float) -> int:
        """Remote opens within `window_s` before `now_m` (older ones are forgotten)."""
        while self.opens and now_m - self.opens[0] > window_s:
            self.opens.popleft()
        return len(self.opens)

    def in_maintenance(self, now_m: float) -> bool:
        """Whether a technician's maintenance session is open at monotonic `now_m`."""
        return now_m < self.maintenance_until


@dataclass
class SiteState:
    """Everything beside the slot table that decides a slot's behaviour."""

    lockout: ScanLockout
    boards: Boards = field(default_factory=Boards)
    doors: Doors = field(default_factory=Doors)
    faults: SiteFaults = field(default_factory=SiteFaults)
    breaker: MassOpenBreaker = field(default_factory=MassOpenBreaker)
    courier: CourierSession | None = None

    def usable(self, place: SlotPlace) -> bool:
        """A slot a parcel may go into: its board answers, its door is shut, it looks empty."""
        if place.board in self.boards.down:
            return False
        seen = self.boards.door(place)
        return seen is None or not (seen[0] or seen[1] is True)

    def apply(self, change: StateChange) -> None:
        """Carry out one state change (after the store committed the decision's records)."""
        doors, faults, boards = self.doors, self.faults, self.boards
        match change:
            # Every poll of every board brings these two (the cases are tried in order).
            case GoodReading(board):
                boards.good_readings[board] = boards.good_readings.get(board, 0) + 1
            case Reading(reading):
                boards.readings[reading.board] = reading
            case RaiseFault(fault, slot_fault):
                key = (fault.component.value, fault.ref or "", fault.code)
                faults.active.setdefault(key, fault)
                if slot_fault is not None and fault.ref is not None:
                    faults.slots[fault.ref] = slot_fault
            case ClearFault(component, ref, code, slot):
                faults.active.pop((component.value, ref, code), None)
                if slot is not None:
                    faults.slots.pop(slot, None)
            case ClearSlotFaults(slot):
                faults.slots.pop(slot, None)
                for key in [k for k in faults.active if k[1] == slot]:
                    del faults.active[key]
            case TrackDoor(slot, unlocked_at, since, seen_open, forced):
                doors.open[slot] = OpenDoor(unlocked_at, since, seen_open=seen_open)
                if forced:
                    doors.forced.add(slot)
            case DoorSeenOpen(slot, since):
                door = doors.open.get(slot)
                if door is not None:
                    door.seen_open = True
                    if since is not None:
                        door.since = since
            case DoorLeftOpenReported(slot):
                if slot in doors.open:
                    doors.open[slot].left_open_reported = True
            case ForgetDoor(slot):
                doors.open.pop(slot, None)
                doors.forced.discard(slot)
                self.lockout.door_closed(slot)  # a new scan of its code is a new request
            case Settled(slot):
                doors.unsettled.discard(slot)
            case Unsettled(slot):
                doors.unsettled.add(slot)
            case BoardDown(board):
                boards.good_readings[board] = 0
                boards.down.add(board)
            case BoardUp(board):
                boards.down.discard(board)
            case CountRefusal(reason, now_m, guessing, decision):
                self.lockout.refused(reason, now_m, guessing, decision)

    def apply_all(self, changes: list[StateChange]) -> None:
        """Apply `changes` in order (see `apply`)."""
        for change in changes:
            self.apply(change)
