"""The readings' decisions (edge/site/readings.py, doors.py) on a manual clock, without I/O.

Doors shut after a deposit (with and without contents), a pickup, a jam, a forced door, a
door left open, contents that disagree with the store, and a board down and back.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.site import doors, readings
from edge.site.actions import Action, Move
from edge.site.slots import Trigger
from protocols.clock import ManualClock
from protocols.messages import SlotState
from tests.edge.rig import labels
from tests.edge.site_twin import SiteTwin, rules, state, types_of

T0 = 1_800_000_000.0
CODE_ID = "0123456789abcdef"


@dataclass(frozen=True)
class Reading:
    """A board's reading (the shape of edge.drivers.lockboard.BoardReading)."""

    board: int
    door_open: tuple[bool, ...]
    occupied: tuple[bool | None, ...]


def shut(occupied: tuple[bool | None, ...] = (False,) * 4) -> Reading:
    return Reading(0, (False,) * 4, occupied)


Occupancy = tuple[bool | None, ...]


def with_door(lock: int, is_open: bool, occupied: Occupancy = (False,) * 4) -> Reading:
    door_open = tuple(is_open if i == lock - 1 else False for i in range(4))
    return Reading(0, door_open, occupied)


class Site:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.rules = rules()
        self.state = state()
        self.twin = SiteTwin.of(self.rules)
        self.see(shut())  # the first reading: nothing to decide

    def see(self, reading: Reading, taken_at: float | None = None) -> list[Action]:
        now, now_m = self.clock.now(), self.clock.monotonic()
        actions = readings.board_reading(
            reading,
            now_m if taken_at is None else taken_at,
            rules=self.rules,
            state=self.state,
            records=self.twin,
            now=now,
            now_m=now_m,
        )
        self.twin.carry_out(actions, self.state, now)
        return actions

    def opened(self, slot: str, trigger: Trigger, **fields: str | None) -> None:
        """The site opened `slot` (committed) and the board confirmed the release now."""
        now, now_m = self.clock.now(), self.clock.monotonic()
        self.twin.carry_out([Move(slot, trigger, **fields)], self.state, now)  # type: ignore[arg-type]
        self.twin.carry_out(doors.unlocked(slot, self.state, now_m, False), self.state, now)


def test_a_deposit_is_recorded_when_the_door_shuts_on_a_parcel() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.opened("A02", Trigger.OPEN_FOR_DEPOSIT, opened_by="courier-7", open_ref=parcel)
    site.clock.advance(0.5)
    assert site.see(with_door(2, True)) and site.state.doors.open["A02"].seen_open
    site.clock.advance(10)
    actions = site.see(shut((False, True, False, False)))
    assert types_of(actions) == ["door_closed", "parcel_deposited"]
    record = site.twin.slot("A02")
    assert record.state is SlotState.OCCUPIED and record.parcel == parcel
    assert "A02" not in site.state.doors.open


def test_a_deposit_door_shut_on_nothing_frees_the_slot() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.opened("A02", Trigger.OPEN_FOR_DEPOSIT, opened_by="courier-7", open_ref=parcel)
    site.see(with_door(2, True))
    site.clock.advance(10)
    actions = site.see(shut())
    assert types_of(actions) == ["door_closed"]
    assert site.twin.slot("A02").state is SlotState.FREE


def test_a_reading_taken_before_the_release_cannot_close_the_door() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.opened("A02", Trigger.OPEN_FOR_DEPOSIT, open_ref=parcel)
    assert site.see(shut(), taken_at=site.clock.monotonic() - 0.1) == [readings.Reading(shut())]
    assert site.twin.slot("A02").state is SlotState.OPEN_FOR_DEPOSIT


def test_a_pickup_door_that_shuts_at_once_with_the_parcel_inside_is_a_jam() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A02", state=SlotState.OCCUPIED, parcel=parcel)
    site.opened("A02", Trigger.OPEN_FOR_PICKUP, opened_by="consumer", open_ref=CODE_ID)
    inside = (False, True, False, False)
    site.clock.advance(0.2)
    assert types_of(site.see(shut(inside))) == []  # too soon to tell: wait for the door
    site.clock.advance(0.2)
    site.see(with_door(2, True, inside))  # the latch let go for a moment...
    site.clock.advance(0.2)
    actions = site.see(shut(inside))  # ...and caught again, the parcel still inside
    assert types_of(actions) == ["door_closed", "lock_fault"]
    assert site.twin.slot("A02").state is SlotState.OCCUPIED
    assert site.twin.used == {}  # the code still works


def test_a_pickup_recorded_when_the_door_shuts_on_an_empty_compartment() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A02", state=SlotState.OCCUPIED, parcel=parcel)
    site.opened("A02", Trigger.OPEN_FOR_PICKUP, opened_by="consumer", open_ref=CODE_ID)
    site.see(with_door(2, True, (False, True, False, False)))
    site.clock.advance(8)
    assert types_of(site.see(shut())) == ["door_closed", "parcel_picked_up"]
    assert site.twin.used[CODE_ID][0] == parcel
    assert site.twin.slot("A02").state is SlotState.FREE


def test_a_door_nobody_opened_is_forced_and_its_close_reported() -> None:
    site = Site()
    assert types_of(site.see(with_door(3, True))) == ["door_forced"]
    assert "A03" in site.state.doors.forced
    assert types_of(site.see(with_door(3, True))) == []  # said once
    assert types_of(site.see(shut())) == ["door_closed"]
    assert site.state.doors.forced == set() and site.state.doors.open == {}


def test_a_door_left_open_is_reported_once() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.opened("A02", Trigger.OPEN_FOR_DEPOSIT, open_ref=parcel)
    site.see(with_door(2, True))
    left_open_s = site.rules.door_left_open_s

    def check() -> list[Action]:
        now_m = site.clock.monotonic()
        actions = readings.doors_left_open(site.rules, site.state, left_open_s, now_m)
        site.twin.carry_out(actions, site.state, site.clock.now())
        return actions

    site.clock.advance(left_open_s - 1)
    assert check() == []
    site.clock.advance(2)
    assert types_of(check()) == ["door_left_open"]
    assert check() == []


def test_contents_that_disagree_with_the_store_fault_the_slot_until_they_agree() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A01", state=SlotState.OCCUPIED, parcel=parcel)
    site.see(shut((True, False, False, False)))
    actions = site.see(shut())  # the parcel is no longer seen behind a closed door
    assert types_of(actions) == ["sensor_fault"]
    assert site.twin.slot("A01").state is SlotState.FAULT
    assert site.state.faults.slots == {"A01": readings.SlotFaultCode.IR_MISMATCH}
    actions = site.see(shut((True, False, False, False)))  # seen again
    assert types_of(actions) == ["fault_cleared"]
    assert site.twin.slot("A01").state is SlotState.OCCUPIED
    assert site.state.faults.active == {} and site.state.faults.slots == {}


def test_a_board_that_stops_answering_is_down_until_three_good_readings_in_a_row() -> None:
    site = Site()
    now = site.clock.now()
    down = readings.board_down(0, "no reply", site.state, now)
    site.twin.carry_out(down, site.state, now)
    assert types_of(down) == ["board_fault"] and 0 in site.state.boards.down
    again = readings.board_down(0, "no reply", site.state, now)
    assert types_of(again) == []  # reported once
    site.twin.carry_out(again, site.state, now)
    written = []
    trusted_after = []
    for _ in range(readings.BOARD_RECOVERY_READINGS):
        trusted, changes = readings.board_trusted(0, site.state)
        site.twin.carry_out(changes, site.state, now)
        written += types_of(changes)
        trusted_after.append(trusted)
    assert trusted_after == [False, False, True]
    assert written == ["fault_cleared"]
    assert site.state.boards.down == set() and site.state.faults.active == {}
