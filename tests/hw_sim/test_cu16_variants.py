"""The simulated CU16 as the published drivers meet it (docs/hardware.md §1), no I/O.

Every frame is a literal: the requests as those drivers send them, the replies computed by
hand (SUM = low byte of the sum of STX..ETX), so the device is checked against the
documentation, not against our own codec.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

from hw_sim.devices.cu16 import Cu16Bus, Cu16Options
from protocols.boards.cu16 import Command
from protocols.clock import ManualClock
from tests.hw_sim.conftest import drain
from tests.hw_sim.test_cli import start

QUERY_ALL_BROADCAST = bytes.fromhex("02 F0 32 03 27")  # DemoLocker, the BLE app, ...
QUERY_ALL_AT_ZERO = bytes.fromhex("02 00 32 03 37")  # lkaas-kerong, lkfw, CartWise
STATUS_B0 = bytes.fromhex("02 00 30 03 35")
UNLOCK_B0_L1 = bytes.fromhex("02 00 31 03 36")
# Every lock locked (1 = locked), nothing inside: 02+00+36+FF+FF+03 = 0x239.
ALL_B0_0x36 = bytes.fromhex("02 00 36 FF FF 00 00 03 39")
ALL_B1_0x36 = bytes.fromhex("02 10 36 FF FF 00 00 03 49")
ALL_B0_0x35 = bytes.fromhex("02 00 35 FF FF 00 00 03 38")
ALL_B1_0x35 = bytes.fromhex("02 10 35 FF FF 00 00 03 48")
# Lock 1 released (bit 0 cleared): 02+00+35+FE+FF+03 = 0x237.
B0_LOCK1_OPEN = bytes.fromhex("02 00 35 FE FF 00 00 03 37")


def replies(bus: Cu16Bus, frame: bytes, at: float = 0.0) -> list[bytes]:
    bus.receive(frame, at)
    return [reply for _, reply in drain(bus)]


def test_query_all_is_answered_0x36_by_default_as_the_sources_name_it() -> None:
    bus = Cu16Bus(ManualClock(), board_ids=(0, 1))
    assert replies(bus, QUERY_ALL_BROADCAST) == [ALL_B0_0x36, ALL_B1_0x36]


def test_query_all_reply_0x35_as_an_option() -> None:
    bus = Cu16Bus(ManualClock(), (0, 1), Cu16Options(query_all_reply=Command.STATUS))
    assert replies(bus, QUERY_ALL_BROADCAST) == [ALL_B0_0x35, ALL_B1_0x35]


@pytest.mark.parametrize("reply", [Command.STATUS, Command.ALL_STATUS])
def test_the_reply_to_0x30_is_0x35_whatever_the_query_all_reply(reply: Command) -> None:
    bus = Cu16Bus(ManualClock(), (0,), Cu16Options(query_all_reply=reply))
    assert replies(bus, STATUS_B0) == [ALL_B0_0x35]


def test_query_all_at_0x00_is_answered_by_board_0_by_default() -> None:
    bus = Cu16Bus(ManualClock(), board_ids=(0, 1))
    assert replies(bus, QUERY_ALL_AT_ZERO) == [ALL_B0_0x36]


def test_a_board_that_answers_query_all_only_on_the_broadcast() -> None:
    bus = Cu16Bus(ManualClock(), (0, 1), Cu16Options(query_all_at_board=False))
    bus.receive(QUERY_ALL_AT_ZERO, 0.0)
    # Sentinel: the status query after it is answered, and it is the only reply.
    assert replies(bus, STATUS_B0, 0.1) == [ALL_B0_0x35]
    assert replies(bus, QUERY_ALL_BROADCAST, 0.2) == [ALL_B0_0x36, ALL_B1_0x36]


def test_unlock_gets_no_reply_by_default() -> None:
    bus = Cu16Bus(ManualClock(), (0,))
    bus.receive(UNLOCK_B0_L1, 0.0)
    assert replies(bus, STATUS_B0, 0.1) == [B0_LOCK1_OPEN]  # the sentinel, alone


def test_unlock_answered_with_the_status_as_an_option() -> None:
    bus = Cu16Bus(ManualClock(), (0,), Cu16Options(reply_to_unlock=True))
    assert replies(bus, UNLOCK_B0_L1) == [B0_LOCK1_OPEN]


def test_a_driver_that_resends_a_silent_boards_unlock_opens_a_shut_door_again() -> None:
    """CartWise's driver: no reply to the unlock, so it sends the unlock again. On a silent
    board each copy releases the lock: the door a person shut in between springs open."""
    clock = ManualClock()
    bus = Cu16Bus(clock, (0,))
    door = bus.compartment(0, 1)
    bus.receive(UNLOCK_B0_L1, clock.monotonic())
    clock.advance(1.0)  # the coil has let go; the person takes the parcel, shuts the door
    door.close_door()
    assert not door.door_open() and door.openings == 1
    bus.receive(UNLOCK_B0_L1, clock.monotonic())  # the driver's second attempt
    assert door.door_open() and door.openings == 2
    assert drain(bus) == []  # and still no reply to either


# --- the same through `lockernet hwsim`, over its pty, with plain pyserial -------------------


@pytest.mark.pty
def test_hwsim_defaults_answer_0x32_at_0x00_with_0x36_and_not_the_unlock(tmp_path: Path) -> None:
    running = start(tmp_path, "--boards", "2")
    try:
        with serial.Serial(running.ready["locks"], 19200, timeout=1.0) as bus:
            bus.write(QUERY_ALL_AT_ZERO)
            assert bus.read(9) == ALL_B0_0x36
            bus.write(UNLOCK_B0_L1 + STATUS_B0)
            assert bus.read(9) == B0_LOCK1_OPEN  # the status's reply, nothing before it
    finally:
        assert running.stop() == 0


@pytest.mark.pty
def test_hwsim_options_unlock_reply_0x35_and_broadcast_only(tmp_path: Path) -> None:
    running = start(
        tmp_path,
        "--unlock-reply",
        "status",
        "--query-all-reply",
        "0x35",
        "--query-all-broadcast-only",
        "--scanner-model",
        "gm65",
    )
    try:
        with serial.Serial(running.ready["locks"], 19200, timeout=1.0) as bus:
            bus.write(UNLOCK_B0_L1)
            assert bus.read(9) == B0_LOCK1_OPEN
            # Sentinel: the unlock-time query's 6-byte answer (hold 500 ms = 05) comes first.
            bus.write(QUERY_ALL_AT_ZERO + bytes.fromhex("02 00 37 00 03 3C"))
            assert bus.read(6) == bytes.fromhex("02 00 37 05 03 41")
            bus.write(QUERY_ALL_BROADCAST)
            assert bus.read(9) == B0_LOCK1_OPEN  # under 0x35, lock 1 still released
        with serial.Serial(running.ready["scanner"], 9600, timeout=1.0) as scanner:
            scanner.write(bytes.fromhex("7E 00 09 01 00 00 00 DE C8"))
            assert scanner.read(7) == bytes.fromhex("02 00 00 01 00 33 31")
    finally:
        assert running.stop() == 0
