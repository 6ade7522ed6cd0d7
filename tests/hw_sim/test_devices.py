"""The devices and the physical model without any I/O, on a hand-stepped clock."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_sim.devices.compartment import Compartment
from hw_sim.devices.cu16 import REPLY_LATENCY_S, Cu16Bus, Cu16Options
from hw_sim.devices.faults import FaultEvent, FaultKind, play, random_plan
from hw_sim.devices.reply_schedule import wire_time
from hw_sim.devices.rs485_board import Rs485Bus, Rs485Options
from hw_sim.devices.scanner import Scanner
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.errors import ConfigError, PhysicalError
from protocols.boards import cu16, rs485
from protocols.boards.cu16 import BoardStatus, LockPolarity
from protocols.clock import ManualClock, ScaledClock
from tests.eventually import eventually_async
from tests.hw_sim.conftest import drain


def test_released_door_springs_open_and_stays_open_after_the_coil() -> None:
    clock = ManualClock()
    door = Compartment(clock, 0, 1)
    assert door.locked() and not door.door_open()
    door.release(hold_s=0.5)
    assert door.door_open() and not door.locked()
    clock.advance(5)
    assert door.door_open() and not door.locked()  # nobody closed it
    assert door.close_door()
    assert door.locked()


def test_door_closed_during_the_coil_latches_when_the_coil_lets_go() -> None:
    clock = ManualClock()
    door = Compartment(clock, 0, 1)
    door.release(hold_s=0.5)
    door.close_door()
    assert not door.locked()  # the latch is still held back
    clock.advance(0.5)
    assert door.locked()


def test_a_latched_door_cannot_be_opened_or_filled() -> None:
    door = Compartment(ManualClock(), 0, 1)
    with pytest.raises(PhysicalError, match="latched"):
        door.open_door()
    with pytest.raises(PhysicalError, match="closed"):
        door.place("RR123456785CN")
    assert door.contents == () and not door.occupied()


def test_wire_time_and_latency_set_when_a_reply_is_ready() -> None:
    clock = ManualClock()
    bus = Cu16Bus(clock)
    bus.receive(cu16.query_status(0).to_bytes(), 10.0)
    ((ready, reply),) = drain(bus)
    assert ready == pytest.approx(10.0 + wire_time(5, 19200) + REPLY_LATENCY_S)
    assert reply == bytes.fromhex("02 00 35 FF FF 00 00 03 38")


def test_cu16_options_polarity_and_reply_to_unlock() -> None:
    clock = ManualClock()
    options = Cu16Options(polarity=LockPolarity.ZERO_IS_LOCKED, reply_to_unlock=True)
    bus = Cu16Bus(clock, options=options)
    bus.receive(cu16.unlock(0, 1).to_bytes(), clock.monotonic())
    ((_, reply),) = drain(bus)
    assert reply == bytes.fromhex("02 00 35 01 00 00 00 03 3B")  # only lock 1's bit set
    status = BoardStatus.from_bytes(reply, LockPolarity.ZERO_IS_LOCKED)
    assert status.locked == (False,) + (True,) * 15


def test_cu16_unlock_all_unlock_time_and_delayed_unlock() -> None:
    clock = ManualClock()
    bus = Cu16Bus(clock, board_ids=(0, 1))
    bus.receive(cu16.unlock_time(1, 0).to_bytes(), clock.monotonic())  # query
    bus.receive(cu16.unlock_time(1, 20).to_bytes(), clock.monotonic())  # set 2.0 s
    replies = [cu16.Frame.from_bytes(raw) for _, raw in drain(bus)]
    assert [r.data[0] for r in replies] == [5, 20] and {r.board for r in replies} == {1}
    bus.receive(cu16.unlock_all(1).to_bytes(), clock.monotonic())
    assert all(c.door_open() for c in bus.boards[1].compartments)
    assert not any(c.door_open() for c in bus.boards[0].compartments)
    bus.receive(cu16.delayed_unlock(0, 7, 3).to_bytes(), clock.monotonic())
    clock.advance(2.9)
    assert not bus.compartment(0, 7).door_open()
    clock.advance(0.2)
    assert bus.compartment(0, 7).door_open()
    assert drain(bus) == []  # unlocks get no reply by default


def test_cu16_power_loss_forgets_the_unlock_time_and_drops_the_coil() -> None:
    clock = ManualClock()
    site = SimulatedSite(clock, SiteConfig())
    bus = site.locks
    bus.receive(cu16.unlock_time(0, 30).to_bytes(), clock.monotonic())
    bus.receive(cu16.unlock(0, 1).to_bytes(), clock.monotonic())
    site.compartment(0, 1).close_door()
    assert not site.compartment(0, 1).locked()  # coil holds for 3 s
    site.set_fault(FaultKind.POWER_LOSS, True, board=0)
    assert site.compartment(0, 1).locked()  # no power, no coil
    assert [raw for _, raw in drain(bus) if raw] == []  # the queued 0x37 answer died with the board
    site.set_fault(FaultKind.POWER_LOSS, False, board=0)
    bus.receive(cu16.unlock_time(0, 0).to_bytes(), clock.monotonic())
    assert cu16.Frame.from_bytes(drain(bus)[0][1]).data == b"\x05"


def test_rs485_status_bytes_open_all_and_channels_out_of_range() -> None:
    clock = ManualClock()
    bus = Rs485Bus(clock, options=Rs485Options(channels=16))
    bus.receive(rs485.Unlock(1, 0).to_bytes(), clock.monotonic())  # open all
    bus.receive(rs485.QueryAll(1).to_bytes(), clock.monotonic())
    bus.receive(rs485.QueryChannel(1, 17).to_bytes(), clock.monotonic())  # no such channel
    (echo_at, echo), (_, status) = drain(bus)
    assert echo == rs485.Unlock(1, 0).to_bytes()
    assert echo_at >= clock.monotonic() + 0.5
    assert status == bytes.fromhex("80 01 00 FF FF 33") + bytes((0x80 ^ 0x01 ^ 0x33,))
    assert Rs485Options(channels=50).status_byte_count == 7
    with pytest.raises(ConfigError):
        Rs485Options(channels=51)


def test_rs485_unlock_reply_reports_a_jammed_door_as_shut() -> None:
    clock = ManualClock()
    bus = Rs485Bus(clock)
    bus.compartment(1, 2).door_jammed = True
    bus.receive(rs485.Unlock(1, 2).to_bytes(), clock.monotonic())
    ((_, reply),) = drain(bus)
    assert reply == rs485.UnlockReply(1, 2, rs485.Feedback.LOW).to_bytes()


def test_scanner_menu_with_several_settings_in_one_command() -> None:
    scanner = Scanner()
    scanner.receive(b"\x16M\rTRGMOD0,BEPLVL3;BEPLVL?,QQQ1.", 0.0)
    ((_, reply),) = drain(scanner)
    assert reply == b"TRGMOD0\x06,BEPLVL3\x05;BEPLVL1\x06,QQQ1\x05."
    assert scanner.mode.value == "host_triggered"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(["cu16", "rs485", "scanner"]))
def test_any_bytes_from_a_host_give_valid_replies_or_none(data: bytes, device: str) -> None:
    clock = ManualClock()
    if device == "cu16":
        bus = Cu16Bus(clock, board_ids=range(10))
        bus.receive(data, 0.0)
        for _, reply in drain(bus):
            cu16.Frame.from_bytes(reply)
    elif device == "rs485":
        rbus = Rs485Bus(clock, addresses=range(1, 32))
        rbus.receive(data, 0.0)
        for _, reply in drain(rbus):
            assert rs485.check_byte(reply[:-1]) == reply[-1]
    else:
        scanner = Scanner()
        scanner.receive(data, 0.0)
        for _, reply in drain(scanner):
            assert reply[-1:] in (b"!", b".")


def test_random_plan_is_reproducible_and_switches_every_fault_back_off() -> None:
    plan = random_plan(3, 3600, boards=[0, 1], slots_per_board=16, mean_gap_s=120)
    assert plan == random_plan(3, 3600, boards=[0, 1], slots_per_board=16, mean_gap_s=120)
    assert plan != random_plan(4, 3600, boards=[0, 1], slots_per_board=16, mean_gap_s=120)
    ons = sum(event.on for event in plan)
    assert ons == len(plan) - ons > 5
    assert all(0 <= event.at <= 3600 for event in plan)


def test_playing_a_plan_switches_faults_at_their_times() -> None:
    async def main() -> None:
        clock = ScaledClock(200)  # 200 simulated seconds per second
        site = SimulatedSite(clock, SiteConfig())
        plan = [
            FaultEvent(10, FaultKind.LOCK_STUCK, True, board=0, slot=3),
            FaultEvent(20, FaultKind.NO_REPLY, True, board=0),
        ]
        started = clock.monotonic()
        player = asyncio.ensure_future(play(plan, site, clock))
        await eventually_async(site.faults, what="the plan's first fault", interval=0.001)
        assert clock.monotonic() - started >= 10
        assert site.faults() == [{"kind": "lock_stuck", "board": 0, "slot": 3}]
        await player
        assert clock.monotonic() - started >= 20
        assert {"kind": "no_reply", "board": 0} in site.faults()

    asyncio.run(main())
