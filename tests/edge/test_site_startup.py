"""Start-up reconciliation and the timers as decisions (edge/site/reconcile.py, timers.py,
faults.py) on a manual clock, without I/O."""

from __future__ import annotations

from dataclasses import dataclass

from edge.site import faults, readings, reconcile, timers
from edge.site.actions import ForgetDoor, PublishState, SweepRemovals
from edge.site.records import Expected
from protocols.clock import ManualClock
from protocols.messages import ScannerFaultCode, SizeClass, SlotState
from tests.edge.rig import labels
from tests.edge.site_twin import SiteTwin, rules, state, types_of

T0 = 1_800_000_000.0


@dataclass(frozen=True)
class Reading:
    board: int
    door_open: tuple[bool, ...]
    occupied: tuple[bool | None, ...]


class Site:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.rules = rules()
        self.state = state()
        self.twin = SiteTwin.of(self.rules)

    def found(self, reading: Reading) -> list:
        now, now_m = self.clock.now(), self.clock.monotonic()
        actions = reconcile.board_found(
            reading, rules=self.rules, state=self.state, records=self.twin, now=now, now_m=now_m
        )
        self.twin.carry_out(actions, self.state, now)
        return actions


def test_a_pickup_whose_door_never_opened_before_a_crash_is_undone_without_a_jam() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put(
        "A02", state=SlotState.OPEN_FOR_PICKUP, parcel=parcel, open_ref="0123456789abcdef"
    )
    inside = (False, True, False, False)
    actions = site.found(Reading(0, (False,) * 4, inside))
    assert types_of(actions) == ["door_closed"]
    assert site.twin.slot("A02").state is SlotState.OCCUPIED and site.twin.used == {}


def test_a_deposit_found_done_after_a_crash_is_finished() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A01", state=SlotState.OPEN_FOR_DEPOSIT, open_ref=parcel, opened_by="c-1")
    actions = site.found(Reading(0, (False,) * 4, (True, False, False, False)))
    assert types_of(actions) == ["door_closed", "parcel_deposited"]
    assert site.twin.slot("A01").parcel == parcel


def test_a_door_found_open_is_followed_until_it_shuts_and_one_nobody_opened_is_forced() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A01", state=SlotState.OPEN_FOR_PICKUP, parcel=parcel, released_at=T0 - 5)
    actions = site.found(Reading(0, (True, False, True, False), (True, False, False, False)))
    assert types_of(actions) == ["door_forced"]  # A03: open, and nobody opened it
    assert site.state.doors.open["A01"].seen_open
    assert site.state.doors.forced == {"A03"}


def test_contents_found_different_from_the_store_at_start_up_fault_the_slot() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A04", state=SlotState.OCCUPIED, parcel=parcel)
    assert types_of(site.found(Reading(0, (False,) * 4, (False,) * 4))) == ["sensor_fault"]
    assert site.twin.slot("A04").state is SlotState.FAULT


def test_a_silent_board_leaves_its_open_slots_to_its_first_reading() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A02", state=SlotState.OPEN_FOR_DEPOSIT, open_ref=parcel)
    now = site.clock.now()
    actions = reconcile.board_silent(
        0, "no reply", rules=site.rules, state=site.state, records=site.twin, now=now
    )
    site.twin.carry_out(actions, site.state, now)
    assert types_of(actions) == ["board_fault"]
    assert site.state.doors.unsettled == {"A02"}
    # The board's first trusted reading settles it: the door shut on nothing, undone.
    seen = readings.SlotSeen("A02", door_open=False, was_open=False, occupied=False)
    settled = readings.slot_reading(
        seen, site.clock.monotonic(), state=site.state, records=site.twin, now=now, now_m=0.0
    )
    site.twin.carry_out(settled, site.state, now)
    assert site.state.doors.unsettled == set()
    assert ForgetDoor("A02") in settled
    assert site.twin.slot("A02").state is SlotState.FREE


def test_a_lapsed_reservation_gives_its_slot_back_by_the_time_the_site_can_prove() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A01", state=SlotState.RESERVED, reserved_for=parcel)
    site.twin.expected_[parcel] = Expected(parcel, SizeClass.S, "A01", T0 + 60)
    proven = T0 + 30
    assert timers.lapsed(site.twin, proven) == []  # a wall clock ahead proves nothing
    actions = timers.tick(site.rules, site.state, site.twin, T0 + 61, site.clock.monotonic())
    site.twin.carry_out(actions, site.state, T0)
    assert site.twin.slot("A01").state is SlotState.FREE and site.twin.expected_ == {}
    assert timers.sweep_due(True, False, True) == [SweepRemovals()]
    assert timers.sweep_due(False, False, True) == []
    assert timers.sweep_due(False, False, False) == [SweepRemovals()]  # the first tick


def test_an_unsure_clock_is_a_fault_central_sees_until_it_is_sure_again() -> None:
    site = Site()
    raised = timers.clock_fault(True, 86400.0, site.state, T0)
    assert PublishState() in raised and types_of(raised) == []
    site.twin.carry_out(raised, site.state, T0)
    assert timers.clock_fault(True, 86400.0, site.state, T0) == []  # raised once
    cleared = timers.clock_fault(False, 0.0, site.state, T0)
    site.twin.carry_out(cleared, site.state, T0)
    assert types_of(cleared) == ["fault_cleared"] and site.state.faults.active == {}


def test_the_store_and_scanner_faults() -> None:
    site = Site()
    full = faults.store_fault("SQLITE_FULL", site.state, T0)
    site.twin.carry_out(full, site.state, T0)
    assert PublishState() in full and types_of(full) == []  # no event can be written
    # Each tick tries to clear it: the FaultCleared event is the write that proves the store.
    trying = faults.store_fault("SQLITE_FULL", site.state, T0)
    assert types_of(trying) == ["fault_cleared"]
    garbage = faults.scanner_fault(ScannerFaultCode.GARBAGE, True, "noise", site.state, T0)
    assert types_of(garbage) == ["scanner_fault"]
    site.twin.carry_out(garbage, site.state, T0)
    assert faults.scanner_fault(ScannerFaultCode.GARBAGE, True, "x", site.state, T0) == []
    back = faults.scanner_fault(ScannerFaultCode.GARBAGE, False, "", site.state, T0)
    assert types_of(back) == ["fault_cleared"]
